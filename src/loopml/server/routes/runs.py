"""Runs: create, get, set status, delete, log a batch, heartbeat, close lapsed runs, metric
history and series, search."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from loopml.core.entities import Param, Tag
from loopml.core.ids import new_id, now_ms
from loopml.server.audit import attributed, event, lapsed_run
from loopml.server.auth import Principal, require
from loopml.server.context import Context
from loopml.server.schemas import (
    CloseLapsedRuns,
    LogBatch,
    MetricHistory,
    MetricOut,
    MetricSeriesOut,
    RunCreate,
    RunList,
    RunOut,
    RunPage,
    RunSearch,
    RunStatusUpdate,
)
from loopml.server.store_calls import call_store
from loopml.stores.metadata.new_runs import resolve_experiment

router = APIRouter(tags=["runs"])
Writer = Annotated[Principal, Depends(require("runs:write"))]
READ = [Depends(require("runs:read"))]
WRITE = Depends(require("runs:write"))


@router.post("/runs", status_code=201)
async def create_run(body: RunCreate, ctx: Context, principal: Writer) -> RunOut:
    """A RUNNING run. With ``run_id`` preset, a repeated request answers the run it made
    (and records no second event); with ``experiment_name``, the experiment is looked up (or
    created) in the same call. Async, with its store calls in :func:`call_store`: a run's
    start is the busiest write of the server."""
    new_run = body.to_new_run()
    if new_run.run_id is None:  # the event names the run before it is written
        new_run = replace(new_run, run_id=new_id())
    known = ctx.experiment_ids.get(body.experiment_name) if body.experiment_name else None
    if known is not None and body.experiment_id is None:
        new_run = replace(new_run, experiment_id=known, experiment_name=None)
    may_create = principal.allows("experiments:write")  # a new name creates the experiment
    store = ctx.metadata_store
    new_run, _ = await call_store(
        store,
        resolve_experiment,
        store,
        new_run,
        may_create=may_create,
        event=attributed(principal),
    )
    payload: dict[str, object] = {"experiment_id": new_run.experiment_id, "name": new_run.name}
    if new_run.parent_run_id:
        payload["parent_run_id"] = new_run.parent_run_id
    created_event = event(principal, "run.create", f"run:{new_run.run_id}", payload)
    run = await call_store(store, store.create_run, new_run, event=created_event)
    if body.experiment_name is not None:
        ctx.experiment_ids.remember(body.experiment_name, run.experiment_id)
    return RunOut.of(run)


@router.post("/runs/search", dependencies=READ)
def search_runs(body: RunSearch, ctx: Context) -> RunPage:
    """Runs matching the filter (see the search language), newest first by default."""
    return RunPage.of(ctx.metadata_store.search_runs(body.to_query()))


@router.get("/runs/{run_id}", dependencies=READ)
def get_run(run_id: str, ctx: Context) -> RunOut:
    return RunOut.of(ctx.metadata_store.get_run(run_id))


@router.put(
    "/runs/{run_id}/status",
    response_model=RunOut,
    responses={204: {"description": "Set; the run is not sent back (Prefer: return=minimal)."}},
)
async def set_run_status(
    run_id: str,
    body: RunStatusUpdate,
    ctx: Context,
    principal: Writer,
    prefer: Annotated[str | None, Header()] = None,
) -> RunOut | Response:
    """The run with its new status, or 204 when the request says ``Prefer: return=minimal``
    (RFC 7240): the run is then not read back, which a client ending the run does not need.
    Async, like :func:`create_run`."""
    status = body.status
    # an ended run's end time defaults to now; a running (resumed) run has none
    end_time = body.end_time if status.is_terminal else None
    if status.is_terminal and end_time is None:
        end_time = now_ms()
    payload = {"status": str(status), "end_time": end_time}
    change = event(principal, "run.set_status", f"run:{run_id}", payload)
    store = ctx.metadata_store
    await call_store(store, store.set_run_status, run_id, status, end_time, event=change)
    if prefers_minimal(prefer):
        return Response(status_code=204)
    return RunOut.of(await call_store(store, store.get_run, run_id))


def prefers_minimal(prefer: str | None) -> bool:
    """Whether a ``Prefer`` header asks for ``return=minimal`` (RFC 7240)."""
    if not prefer:
        return False
    preferences = (item.split(";")[0].strip().lower() for item in prefer.split(","))
    return "return=minimal" in preferences


@router.delete("/runs/{run_id}", status_code=204)
def delete_run(run_id: str, ctx: Context, principal: Writer) -> Response:
    ctx.metadata_store.delete_run(run_id, event=event(principal, "run.delete", f"run:{run_id}", {}))
    return Response(status_code=204)


@router.post("/runs/{run_id}/batch", status_code=204)
def log_batch(run_id: str, body: LogBatch, ctx: Context, principal: Writer) -> Response:
    """Metrics, params and tags, all or nothing (a param re-set differently is a conflict);
    a batch id stored before is not stored (nor recorded) again."""
    payload = {
        "metrics": len(body.metrics),
        "params": sorted({p.key for p in body.params}),
        "tags": sorted({t.key for t in body.tags}),
    }
    ctx.metadata_store.log_batch(
        run_id,
        metrics=[metric.to_entity() for metric in body.metrics],
        params=[Param(p.key, p.value) for p in body.params],
        tags=[Tag(t.key, t.value) for t in body.tags],
        batch_id=body.batch_id,
        event=event(principal, "run.log_batch", f"run:{run_id}", payload),
    )
    return Response(status_code=204)


@router.put("/runs/{run_id}/heartbeat", status_code=204, dependencies=[WRITE])
def heartbeat_run(run_id: str, ctx: Context) -> Response:
    """The logging process is alive (not an audited change: it only moves ``heartbeat_at``)."""
    ctx.metadata_store.heartbeat_run(run_id)
    return Response(status_code=204)


@router.post("/runs/close-lapsed")
def close_lapsed_runs(body: CloseLapsedRuns, ctx: Context, principal: Writer) -> RunList:
    """End as KILLED the RUNNING runs whose heartbeat is older than ``lapsed_for_ms``."""
    closed = ctx.metadata_store.close_lapsed_runs(
        body.lapsed_for_ms,
        dry_run=body.dry_run,
        event_of=lambda run: lapsed_run(principal.name, run),
    )
    return RunList(items=[RunOut.of(run) for run in closed])


@router.get("/runs/{run_id}/metric-history", dependencies=READ)
def get_metric_history(run_id: str, key: Annotated[str, Query()], ctx: Context) -> MetricHistory:
    """Every value logged for ``key``, ordered by step then timestamp."""
    history = ctx.metadata_store.get_metric_history(run_id, key)
    return MetricHistory(items=[MetricOut.of(metric) for metric in history])


@router.get("/runs/{run_id}/metric-series", dependencies=READ)
def get_metric_series(
    run_id: str,
    key: Annotated[str, Query()],
    max_points: Annotated[int, Query(description="2 to 10,000 points.")],
    ctx: Context,
) -> MetricSeriesOut:
    """``key``'s history in at most ``max_points`` points, thinned by the store: the first
    and last points and each step bucket's lowest and highest value (for charts)."""
    series = ctx.metadata_store.get_metric_series(run_id, key, max_points=max_points)
    return MetricSeriesOut.of(series)
