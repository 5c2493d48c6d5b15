"""The deployments page (``/ui/deployments``): the model servers that are, or were, serving
(``loopml deployments list``), and one deployment (``/ui/deployments/{id}``): its traffic,
latency, errors, per-feature drift and performance window by window (``loopml monitor report``
over the alias it follows), the alert rules that fired on it, and the loop's decisions about
its model with their evidence (``loopml loop log``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from loopml.core.durations import parse_duration_ms
from loopml.core.entities import Page
from loopml.core.ids import now_ms
from loopml.core.loop_records import Decision, DecisionState, Deployment, DeploymentState
from loopml.dashboard.deployment_monitoring import monitored_ref, monitoring
from loopml.dashboard.formatting import timestamp
from loopml.dashboard.sources import DashboardSources, Guarded
from loopml.dashboard.templating import page
from loopml.loop.evidence import summarise_evidence
from loopml.monitoring.deployments import find_deployment
from loopml.stores.loop.base import LoopStore
from loopml.tracking.heartbeat import format_age

SLUGS = ("deployments",)
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
WINDOW_CHOICES = ("5m", "15m", "1h", "6h", "1d")  # the windows a person picks from
DEFAULT_WINDOWS = 24
MAX_WINDOWS = 48  # windows on one screen; earlier ones are a link away
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
        shown = monitoring(sources, deployment, window_ms, windows, until_ms)
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
                "ref": monitored_ref(deployment),
                "run_id": deployment.run_id,
                "ended": timestamp(deployment.ended_at) if deployment.ended_at else None,
                "window": window,
                "window_choices": WINDOW_CHOICES,
                "windows": windows,
                "monitoring": shown,
                "earlier_query": _query(here, until=str(shown.since_ms))
                if shown.since_ms is not None
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
