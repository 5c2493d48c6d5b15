"""What the deployment page shows of its monitoring windows: ``monitor_windows`` (as ``loopml
monitor report`` runs it) over the stores the dashboard was given, turned into charts, the
drift grid and the table of windows. Every number is the library's; this only lays it out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.core.errors import LoopMLError
from loopml.core.loop_records import Deployment
from loopml.dashboard.deployment_charts import (
    Chart,
    DriftGrid,
    bar_chart,
    drift_grid,
    line_chart,
    number,
)
from loopml.dashboard.formatting import timestamp
from loopml.dashboard.sources import DashboardSources
from loopml.tracking.client import Client

if TYPE_CHECKING:  # the monitoring stack is imported when a page asks, not at start-up
    from loopml.monitoring.windows import Window, WindowsReport

__all__ = ["MAX_FEATURES", "Monitoring", "monitored_ref", "monitoring"]

MAX_FEATURES = 20  # rows of the drift grid; the most drifted first


def monitored_ref(deployment: Deployment) -> str | None:
    """What the page monitors: the main traffic of every server following the deployment's
    alias (what the loop watches), else every prediction of the version it serves."""
    if deployment.alias:
        return f"{deployment.model}@{deployment.alias}"
    if deployment.version is not None:
        return f"{deployment.model}@{deployment.version}"
    return None


@dataclass(frozen=True)
class WindowRow:
    start: str
    version: str
    requests: str
    rows: str
    errors: str
    p50: str
    p95: str
    p99: str
    drift: str
    prediction_drift: str
    performance: str
    estimated: str
    decay: str


@dataclass(frozen=True)
class Monitoring:
    """What the page shows of the windows (``notes``: what could not be shown, and why)."""

    since_ms: int | None = None
    since: str = ""
    until: str = ""
    charts: tuple[Chart, ...] = ()
    drift: DriftGrid | None = None
    drift_headers: tuple[str, ...] = ()
    rows: tuple[WindowRow, ...] = ()
    notes: tuple[str, ...] = ()


def monitoring(
    sources: DashboardSources, deployment: Deployment, window_ms: int, count: int, until_ms: int
) -> Monitoring:
    ref = monitored_ref(deployment)
    if ref is None:
        return Monitoring(notes=("The deployment has not said what it serves yet.",))
    if sources.artifacts is None:
        return Monitoring(notes=("No artifact store here: the prediction log cannot be read.",))
    from loopml.monitoring.windows import monitor_windows

    client = Client.over_stores(sources.metadata, sources.artifacts, loop=sources.loop)
    until_ms = -(-until_ms // window_ms) * window_ms
    since_ms = until_ms - count * window_ms
    try:
        report = monitor_windows(
            client, ref, window_ms=window_ms, since_ms=since_ms, until_ms=until_ms
        )
    except LoopMLError as exc:  # a version without a reference, a log part unreadable...
        return Monitoring(since_ms, notes=(exc.message,))
    return _shown(report)


def _shown(report: WindowsReport) -> Monitoring:
    windows = report.windows
    span = (report.since_ms, report.until_ms, report.window_ms)
    labels = (timestamp(report.since_ms), timestamp(report.until_ms))
    notes = list(report.notes)
    if not windows:
        notes.append("No logged predictions in these windows.")
    versions = sorted({w.model_version for w in windows})
    several = len(versions) > 1

    def by_version(read: Callable[[Window], float | None]) -> list[tuple[str, str, Any]]:
        return [
            (
                v if several else "",
                f"series-{i % 4}",
                [(w.start_ms, read(w)) for w in windows if w.model_version == v],
            )
            for i, v in enumerate(versions)
        ]

    served = _combined(windows)  # every version of a window together (an alias moved)
    charts = [
        bar_chart(
            "traffic",
            "Requests per window",
            [(w.start_ms, float(w.requests)) for w in served],
            span,
            labels,
            what="requests",
        ),
        line_chart(
            "latency",
            "Latency per request (p50, p95, p99)",
            [
                (f"p{q}", f"series-{i}", [(w.start_ms, _latency(w, q)) for w in served])
                for i, q in enumerate((50, 95, 99))
            ],
            span,
            labels,
            unit=" ms",
        ),
        line_chart("errors", "Error rate", by_version(lambda w: w.error_rate), span, labels),
        line_chart(
            "drift",
            "Drift share (features drifted)",
            by_version(_drift_share),
            span,
            labels,
            top=1.0,
        ),
        _performance_chart(windows, versions, span, labels),
    ]
    grid = drift_grid([w.checks.drift for w in windows], MAX_FEATURES)
    headers = tuple(
        timestamp(w.start_ms)[5:16] + (f" {w.model_version}" if several else "") for w in windows
    )
    return Monitoring(
        since_ms=report.since_ms,
        since=labels[0],
        until=labels[1],
        charts=tuple(charts),
        drift=grid if grid.rows else None,
        drift_headers=headers,
        rows=tuple(_window_row(w) for w in reversed(windows)),
        notes=tuple(notes),
    )


def _combined(windows: list[Window]) -> list[Window]:
    """One window per start: the requests of every version in it, their latencies merged."""
    from loopml.monitoring.windows import Window

    merged: dict[int, Window] = {}
    for window in windows:
        into = merged.setdefault(
            window.start_ms, Window(window.start_ms, window.end_ms, window.model_version)
        )
        into.requests += window.requests
        into.latency.merge(window.latency)
    return [merged[start] for start in sorted(merged)]


def _latency(window: Window, q: int) -> float | None:
    return window.latency.quantile(q / 100) if window.requests else None


def _drift_share(window: Window) -> float | None:
    share = (window.checks.drift or {}).get("share")
    return float(share) if isinstance(share, int | float) else None


def _metric(found: dict[str, Any] | None, key: str) -> float | None:
    value = (found or {}).get(key)
    return float(value) if isinstance(value, int | float) and value == value else None


def _estimated(window: Window, key: str) -> float | None:
    metrics = (window.checks.estimated_performance or {}).get("metrics") or {}
    return _metric(metrics.get(key), "value")


def _performance_chart(
    windows: list[Window],
    versions: list[str],
    span: tuple[int, int, int],
    labels: tuple[str, str],
) -> Chart:
    """Accuracy once labels arrived, beside accuracy estimated before them (CBPE); for a
    regressor, its RMSE and MAE. A line per version when the windows hold several."""
    regression = any(_metric(w.checks.performance, "rmse") is not None for w in windows)
    lines: list[tuple[str, Callable[[Window], float | None]]]
    if regression:
        lines = [
            ("RMSE", lambda w: _metric(w.checks.performance, "rmse")),
            ("MAE", lambda w: _metric(w.checks.performance, "mae")),
        ]
    else:
        lines = [
            ("accuracy (labels)", lambda w: _metric(w.checks.performance, "accuracy")),
            ("accuracy estimated (CBPE)", lambda w: _estimated(w, "accuracy")),
        ]
    series = []
    for v_index, version in enumerate(versions):
        mine = [w for w in windows if w.model_version == version]
        for l_index, (name, read) in enumerate(lines):
            label = f"{name} {version}" if len(versions) > 1 else name
            points = [(w.start_ms, read(w)) for w in mine]
            series.append((label, f"series-{(2 * v_index + l_index) % 4}", points))
    if regression:
        return line_chart("performance", "Error once labels arrived", series, span, labels)
    return line_chart("performance", "Performance: accuracy", series, span, labels, top=1.0)


def _window_row(window: Window) -> WindowRow:
    from loopml.monitoring.window_html import (
        decay_text,
        drift_text,
        estimated_text,
        performance_text,
    )

    data = window.to_dict()
    latency = data["latency_ms"]
    rate = window.error_rate
    return WindowRow(
        start=timestamp(window.start_ms),
        version=window.model_version,
        requests=f"{window.requests:,}",
        rows=f"{window.rows:,}",
        errors=f"{window.errors:,}" + (f" ({rate:.1%})" if rate else ""),
        p50=number(latency["p50"]),
        p95=number(latency["p95"]),
        p99=number(latency["p99"]),
        drift=drift_text(data["drift"]),
        prediction_drift=drift_text(data["prediction_drift"]),
        performance=performance_text(data["performance"]),
        estimated=estimated_text(data["estimated_performance"]),
        decay=decay_text(data["concept_drift"]),
    )
