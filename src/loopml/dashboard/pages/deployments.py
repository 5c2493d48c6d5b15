"""The deployments page (``/ui/deployments``): the model servers that are, or were, serving
(``loopml deployments list``), and one deployment (``/ui/deployments/{id}``): its traffic,
latency, errors, per-feature drift and performance window by window (``loopml monitor report``
over the alias it follows), the alert rules that fired on it, and the loop's decisions about
its model with their evidence (``loopml loop log``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from loopml.core.durations import parse_duration_ms
from loopml.core.entities import Page
from loopml.core.errors import LoopMLError
from loopml.core.ids import now_ms
from loopml.core.loop_records import Decision, DecisionState, Deployment, DeploymentState
from loopml.dashboard.deployment_charts import (
    Chart,
    DriftGrid,
    bar_chart,
    drift_grid,
    line_chart,
    number,
)
from loopml.dashboard.formatting import timestamp
from loopml.dashboard.sources import DashboardSources, Guarded
from loopml.dashboard.templating import page
from loopml.loop.evidence import summarise_evidence
from loopml.monitoring.deployments import find_deployment
from loopml.stores.loop.base import LoopStore
from loopml.tracking.client import Client
from loopml.tracking.heartbeat import format_age

if TYPE_CHECKING:  # the monitoring stack is imported by the detail page, not at start-up
    from loopml.monitoring.windows import Window, WindowsReport

SLUGS = ("deployments",)
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
WINDOW_CHOICES = ("5m", "15m", "1h", "6h", "1d")  # the windows a person picks from
DEFAULT_WINDOWS = 24
MAX_WINDOWS = 48  # windows on one screen; earlier ones are a link away
MAX_FEATURES = 20  # rows of the drift grid; the most drifted first
DECISIONS_SHOWN = 10
MAX_DECISIONS = 50
WindowChoice = Literal["5m", "15m", "1h", "6h", "1d"]


@dataclass(frozen=True)
class DeploymentRow:
    id: str
    short_id: str
    model: str
    served: str
    version: str
    state: str
    state_text: str
    address: str
    started: str
    heartbeat: str


def add_routes(router: APIRouter, sources: DashboardSources, guarded: Guarded) -> None:
    router.add_api_route(
        "/deployments",
        list_handler(sources),
        methods=["GET"],
        dependencies=guarded("deployments:read"),
        summary="The model servers that are, or were, serving (HTML).",
        response_class=HTMLResponse,
    )
    router.add_api_route(
        "/deployments/{deployment_id}",
        detail_handler(sources),
        methods=["GET"],
        dependencies=guarded("deployments:read"),
        summary="One model server: traffic, latency, drift, performance, alerts and the "
        "loop's decisions (HTML).",
        response_class=HTMLResponse,
    )


def list_handler(sources: DashboardSources) -> Callable[..., HTMLResponse]:
    def dashboard_deployments(
        request: Request,
        model: Annotated[
            str | None, Query(max_length=200, description="Only servers of this model.")
        ] = None,
        state: Annotated[
            DeploymentState | None, Query(description="Only live, ended or gone servers.")
        ] = None,
        show_all: Annotated[
            bool, Query(alias="all", description="Also the servers that ended.")
        ] = False,
        page_token: Annotated[
            str | None, Query(max_length=2000, description="The page's token (from 'Next').")
        ] = None,
        per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = DEFAULT_PER_PAGE,
    ) -> HTMLResponse:
        if sources.loop is None:
            return _no_loop_store(request)
        found: Page[Deployment] = sources.loop.list_deployments(
            model=model or None, state=state, max_results=per_page, page_token=page_token
        )
        # as 'loopml deployments list': the servers that ended only with --all or --state
        shown = [
            d for d in found if show_all or state is not None or d.state != DeploymentState.ENDED
        ]
        now = now_ms()
        here = {
            "model": model or None,
            "state": state and str(state),
            "all": "true" if show_all else None,
            "per_page": per_page,
        }
        return page(
            request,
            "deployments.html",
            "deployments",
            {
                "loop_store": True,
                "rows": [_row(d, now) for d in shown],
                "show_all": show_all,
                "model": model or "",
                "state": "" if state is None else str(state),
                "states": [str(s) for s in DeploymentState],
                "filtered": bool(model or state),
                "next_query": _query(here, page_token=found.next_page_token)
                if found.next_page_token
                else None,
                "first_query": _query(here) if page_token else None,
            },
        )

    return dashboard_deployments


def detail_handler(sources: DashboardSources) -> Callable[..., HTMLResponse]:
    def dashboard_deployment(
        request: Request,
        deployment_id: Annotated[str, Path(max_length=64)],
        window: Annotated[
            WindowChoice, Query(description="The window's length: 5m, 15m, 1h, 6h or 1d.")
        ] = "1h",
        windows: Annotated[
            int, Query(ge=1, le=MAX_WINDOWS, description="How many windows to show.")
        ] = DEFAULT_WINDOWS,
        until: Annotated[
            int | None,
            Query(ge=0, le=2**53, description="The end of the last window (ms since the epoch)."),
        ] = None,
        decisions: Annotated[int, Query(ge=1, le=MAX_DECISIONS)] = DECISIONS_SHOWN,
        decisions_token: Annotated[str | None, Query(max_length=2000)] = None,
    ) -> HTMLResponse:
        if sources.loop is None:
            return _no_loop_store(request)
        deployment = find_deployment(sources.loop, deployment_id)
        window_ms = parse_duration_ms(window) or 3_600_000
        until_ms = until if until is not None else now_ms()
        monitoring = _monitoring(sources, deployment, window_ms, windows, until_ms)
        found = sources.loop.list_decisions(
            model=deployment.model, max_results=decisions, page_token=decisions_token
        )
        here = {"window": window, "windows": windows, "until": until, "decisions": decisions}
        return page(
            request,
            "deployment.html",
            "deployments",
            {
                "d": _row(deployment, now_ms()),
                "deployment": deployment,
                "ref": _ref(deployment),
                "run_id": deployment.run_id,
                "ended": timestamp(deployment.ended_at) if deployment.ended_at else None,
                "window": window,
                "window_choices": WINDOW_CHOICES,
                "windows": windows,
                "monitoring": monitoring,
                "earlier_query": _query(here, until=str(monitoring.since_ms))
                if monitoring.since_ms is not None
                else None,
                "later_query": _query({**here, "until": None}) if until is not None else None,
                "alerts": _alerts(sources.loop, deployment),
                "decisions": [_decision(d) for d in found],
                "decisions_next": _query(here, decisions_token=found.next_page_token)
                if found.next_page_token
                else None,
            },
        )

    return dashboard_deployment


def _no_loop_store(request: Request) -> HTMLResponse:
    return page(request, "deployments.html", "deployments", {"loop_store": False})


def _ref(deployment: Deployment) -> str | None:
    """What the page monitors: the main traffic of every server following the deployment's
    alias (what the loop watches), else every prediction of the version it serves."""
    if deployment.alias:
        return f"{deployment.model}@{deployment.alias}"
    if deployment.version is not None:
        return f"{deployment.model}@{deployment.version}"
    return None


def _row(deployment: Deployment, now: int) -> DeploymentRow:
    state = deployment.state
    text = str(state)
    if state is DeploymentState.GONE:
        text = f"gone (no heartbeat for {format_age(now - deployment.heartbeat_at)})"
    elif state is DeploymentState.ENDED and deployment.end_reason:
        text = f"ended ({deployment.end_reason})"
    alias = f"@{deployment.alias}" if deployment.alias else ""
    return DeploymentRow(
        id=deployment.id,
        short_id=deployment.id[:8],
        model=deployment.model,
        served=f"{deployment.model}{alias}",
        version="" if deployment.version is None else str(deployment.version),
        state=str(state),
        state_text=text,
        address=deployment.address,
        started=timestamp(deployment.started_at),
        heartbeat=f"{format_age(now - deployment.heartbeat_at)} ago",
    )


# monitoring ------------------------------------------------------------------------------


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


def _monitoring(
    sources: DashboardSources, deployment: Deployment, window_ms: int, count: int, until_ms: int
) -> Monitoring:
    ref = _ref(deployment)
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


# alerts and decisions --------------------------------------------------------------------


@dataclass(frozen=True)
class AlertRow:
    rule: str
    model: str
    fired: str


def _alerts(loop: LoopStore, deployment: Deployment) -> list[AlertRow]:
    """The alert rules that fired on the deployment's model, when last (the cooldowns the
    agent keeps in the store; the rules themselves are in the project's loopml.yaml)."""
    from loopml.loop.agent_tick import ALERT_STATE
    from loopml.loop.alerts import AlertState

    stored = loop.get_loop_state(ALERT_STATE) or {}
    try:
        state = AlertState.from_dict(stored)
    except (KeyError, TypeError, ValueError):
        return []
    rows = [
        AlertRow(rule, model, timestamp(at))
        for (rule, model), at in state.last_fired_ms.items()
        if model.partition("@")[0] == deployment.model
    ]
    return sorted(rows, key=lambda row: row.fired, reverse=True)


@dataclass(frozen=True)
class DecisionRow:
    id: str
    time: str
    model: str
    alias: str
    trigger: str
    evidence: str
    evidence_items: tuple[tuple[str, str], ...]
    state: str
    champion_version: int | None
    candidate_version: int | None
    pipeline_run_id: str | None
    gate_result_id: str | None
    action: str


def _decision(decision: Decision) -> DecisionRow:
    items = tuple((key, _evidence_value(value)) for key, value in decision.evidence.items())
    action = (
        decision.error
        if decision.state is DecisionState.FAILED and decision.error
        else decision.action
    )
    return DecisionRow(
        id=decision.id,
        time=timestamp(decision.created_at),
        model=decision.model,
        alias=decision.alias,
        trigger=str(decision.trigger),
        evidence=summarise_evidence(decision),
        evidence_items=items[:20],
        state=str(decision.state),
        champion_version=decision.champion_version,
        candidate_version=decision.candidate_version,
        pipeline_run_id=decision.pipeline_run_id,
        gate_result_id=decision.gate_result_id,
        action=action or "",
    )


def _evidence_value(value: object) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 200 else text[:199] + "…"


def _query(values: dict[str, Any], **more: str | None) -> str:
    return urlencode({k: v for k, v in {**values, **more}.items() if v is not None})
