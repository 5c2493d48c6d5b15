"""A Grafana dashboard (JSON model, schema 39) of a model server's and the platform server's
Prometheus metrics: traffic, latency percentiles, errors, live drift per feature, the drift
share and prediction drift, the prediction log's backlog, and the platform server's
requests — a pure builder, no I/O. Import it in Grafana (Dashboards → New → Import) and pick
the Prometheus data source; ``$app`` selects the model's pods (their ``app`` label, which the
ServiceMonitor and the usual pod-annotation scrape job both keep).

Every metric a panel queries is a metric the servers expose: a test runs both servers and
checks each name in :func:`queried_metrics` against their ``/metrics``.

>>> sorted(queried_metrics(dashboard("churn", "churn")))[0]
'loopml_server_errors_total'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["dashboard", "queried_metrics"]

SCHEMA_VERSION = 39
RATE_WINDOW = "5m"
_APP = 'app=~"$app"'
_METRIC_NAME = re.compile(r"\b((?:loopml|process)_[a-z0-9_]+)\b")
_UID_LIMIT = 40


def _target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "expr": expr,
        "legendFormat": legend,
        "refId": ref,
    }


def _panel(
    title: str, unit: str, targets: Iterable[tuple[str, str]], *, description: str = ""
) -> dict[str, Any]:
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            _target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(targets)
        ],
    }


def _row(title: str) -> dict[str, Any]:
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def _quantile(q: float, metric: str, where: str, by: str = "") -> str:
    grouped = f"le{', ' + by if by else ''}"
    return (
        f"histogram_quantile({q}, sum by ({grouped}) "
        f"(rate({metric}_bucket{{{where}}}[{RATE_WINDOW}])))"
    )


def _serving_panels() -> list[dict[str, Any]]:
    requests = "loopml_serving_requests_total"
    latency = "loopml_serving_request_duration_seconds"
    return [
        _row("Model server: traffic"),
        _panel(
            "Requests per second by model version",
            "reqps",
            [
                (
                    f"sum by (model_version) (rate({requests}{{{_APP}}}[{RATE_WINDOW}]))",
                    "{{model_version}}",
                )
            ],
        ),
        _panel(
            "Predicted rows per second by version and traffic",
            "rowsps",
            [
                (
                    "sum by (model_version, traffic) "
                    f"(rate(loopml_serving_predictions_total{{{_APP}}}[{RATE_WINDOW}]))",
                    "{{model_version}} {{traffic}}",
                )
            ],
        ),
        _panel(
            "Latency percentiles (every endpoint)",
            "s",
            [
                (_quantile(0.5, latency, _APP), "p50"),
                (_quantile(0.95, latency, _APP), "p95"),
                (_quantile(0.99, latency, _APP), "p99"),
            ],
        ),
        _panel(
            "Error rate (share of requests answered 4xx / 5xx)",
            "percentunit",
            [
                (
                    f'sum(rate({requests}{{{_APP}, status=~"5.."}}[{RATE_WINDOW}])) / '
                    f"sum(rate({requests}{{{_APP}}}[{RATE_WINDOW}]))",
                    "5xx",
                ),
                (
                    f'sum(rate({requests}{{{_APP}, status=~"4.."}}[{RATE_WINDOW}])) / '
                    f"sum(rate({requests}{{{_APP}}}[{RATE_WINDOW}]))",
                    "4xx",
                ),
            ],
        ),
        _row("Model server: live drift against the served version's training data"),
        _panel(
            "Drift score per feature",
            "none",
            [
                (
                    f"max by (feature, method) (loopml_serving_drift_feature_score{{{_APP}}})",
                    "{{feature}} ({{method}})",
                )
            ],
            description="Each feature's statistic over the live window (Wasserstein in "
            "reference standard deviations, Jensen–Shannon, or KS / chi-square).",
        ),
        _panel(
            "Drifted features",
            "none",
            [
                (
                    f"max by (feature) (loopml_serving_drift_feature_drifted{{{_APP}}})",
                    "{{feature}}",
                )
            ],
        ),
        _panel(
            "Dataset drift share and prediction drift",
            "none",
            [
                (f"max(loopml_serving_drift_share{{{_APP}}})", "drifted share of features"),
                (
                    f"max by (method) (loopml_serving_drift_prediction_score{{{_APP}}})",
                    "prediction ({{method}})",
                ),
            ],
        ),
        _panel(
            "Estimated performance before labels (CBPE)",
            "percentunit",
            [
                (f"max(loopml_serving_estimated_accuracy{{{_APP}}})", "estimated accuracy"),
                (f"max(loopml_serving_estimated_roc_auc{{{_APP}}})", "estimated ROC AUC"),
            ],
        ),
        _panel(
            "Live window",
            "none",
            [
                (f"sum(loopml_serving_drift_window_rows{{{_APP}}})", "rows in the window"),
                (
                    f"time() - max(loopml_serving_drift_computed_timestamp_seconds{{{_APP}}})",
                    "seconds since last computed",
                ),
            ],
        ),
        _row("Model server: prediction log"),
        _panel(
            "Rows waiting to be stored",
            "none",
            [
                (f"sum(loopml_serving_log_queue_rows{{{_APP}}})", "in memory"),
                (f"sum(loopml_serving_log_spooled_rows{{{_APP}}})", "on local disk"),
            ],
        ),
        _panel(
            "Oldest row not yet stored",
            "s",
            [(f"max(loopml_serving_log_oldest_unsent_seconds{{{_APP}}})", "age")],
        ),
        _panel(
            "Rows lost (full disk)",
            "none",
            [
                (
                    f"sum(increase(loopml_serving_log_dropped_rows_total{{{_APP}}}[{RATE_WINDOW}]))",
                    "dropped",
                )
            ],
        ),
    ]


def _platform_panels() -> list[dict[str, Any]]:
    job = 'job=~"$platform_job"'
    return [
        _row("Platform server (loopml server)"),
        _panel(
            "Requests per second by route",
            "reqps",
            [
                (
                    "sum by (route, status) "
                    f"(rate(loopml_server_requests_total{{{job}}}[{RATE_WINDOW}]))",
                    "{{route}} {{status}}",
                )
            ],
        ),
        _panel(
            "p95 latency by route",
            "s",
            [
                (
                    _quantile(0.95, "loopml_server_request_duration_seconds", job, "route"),
                    "{{route}}",
                )
            ],
        ),
        _panel(
            "Server failures by code",
            "none",
            [
                (
                    f"sum by (code) (increase(loopml_server_errors_total{{{job}}}[{RATE_WINDOW}]))",
                    "{{code}}",
                )
            ],
        ),
        _panel(
            "Process memory and CPU",
            "none",
            [
                (f"process_resident_memory_bytes{{{job}}}", "resident bytes {{instance}}"),
                (f"rate(process_cpu_seconds_total{{{job}}}[{RATE_WINDOW}])", "CPU {{instance}}"),
            ],
        ),
    ]


def _variables(app: str) -> list[dict[str, Any]]:
    source = {"type": "prometheus", "uid": "${datasource}"}
    return [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"},
        {
            "name": "app",
            "label": "Model (app label)",
            "type": "query",
            "datasource": source,
            "query": "label_values(loopml_serving_requests_total, app)",
            "current": {"text": app, "value": app},
            "includeAll": True,
            "allValue": ".*",
            "refresh": 2,
        },
        {
            "name": "platform_job",
            "label": "Platform server (job)",
            "type": "query",
            "datasource": source,
            "query": "label_values(loopml_server_requests_total, job)",
            "includeAll": True,
            "allValue": ".*",
            "current": {"text": "All", "value": "$__all"},
            "refresh": 2,
        },
    ]


def _laid_out(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ids and grid positions: rows span the width, panels two to a line."""
    y, x = 0, 0
    for number, panel in enumerate(panels, start=1):
        panel["id"] = number
        if panel["type"] == "row":
            y += 0 if x == 0 else 8
            panel["gridPos"] = {"h": 1, "w": 24, "x": 0, "y": y}
            y, x = y + 1, 0
            continue
        panel["gridPos"] = {"h": 8, "w": 12, "x": x, "y": y}
        x = 12 if x == 0 else 0
        y += 8 if x == 0 else 0
    return panels


def dashboard(model: str, app: str) -> dict[str, Any]:
    """The dashboard of ``model``, its ``$app`` variable set to ``app`` (the pods' label)."""
    return {
        "uid": f"loopml-{app}"[:_UID_LIMIT],
        "title": f"loopml: {model}",
        "tags": ["loopml"],
        "timezone": "browser",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": _variables(app)},
        "annotations": {"list": []},
        "panels": _laid_out([*_serving_panels(), *_platform_panels()]),
    }


def queried_metrics(board: dict[str, Any]) -> set[str]:
    """Every metric name the panels' queries (and the variables) name."""
    texts = [t["expr"] for p in board["panels"] for t in p.get("targets", ())]
    texts += [v.get("query", "") for v in board["templating"]["list"]]
    return {name for text in texts for name in _METRIC_NAME.findall(text)}
