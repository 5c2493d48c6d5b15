"""Runs: create, get, set status, delete, log a batch, heartbeat, close lapsed runs, metric
history, search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from loopml.core.entities import Param, Tag
from loopml.server.audit import record_event
from loopml.server.auth import Principal, require
from loopml.server.context import Context
from loopml.server.schemas import (
    CloseLapsedRuns,
    LogBatch,
    MetricHistory,
    MetricOut,
    RunCreate,
    RunList,
    RunOut,
    RunPage,
    RunSearch,
    RunStatusUpdate,
)

router = APIRouter(tags=["runs"])
Writer = Annotated[Principal, Depends(require("runs:write"))]
READ = [Depends(require("runs:read"))]
WRITE = Depends(require("runs:write"))


@router.post("/runs", status_code=201)
def create_run(body: RunCreate, ctx: Context, principal: Writer) -> RunOut:
    run = ctx.metadata_store.create_run(body.to_new_run())
    payload = {"experiment_id": run.experiment_id, "name": run.name}
    if run.parent_run_id:
        payload["parent_run_id"] = run.parent_run_id
    record_event(ctx, principal, "run.create", f"run:{run.id}", payload)
    return RunOut.of(run)


@router.post("/runs/search", dependencies=READ)
def search_runs(body: RunSearch, ctx: Context) -> RunPage:
    """Runs matching the filter (see the search language), newest first by default."""
    return RunPage.of(ctx.metadata_store.search_runs(body.to_query()))


@router.get("/runs/{run_id}", dependencies=READ)
def get_run(run_id: str, ctx: Context) -> RunOut:
    return RunOut.of(ctx.metadata_store.get_run(run_id))


@router.put("/runs/{run_id}/status")
def set_run_status(run_id: str, body: RunStatusUpdate, ctx: Context, principal: Writer) -> RunOut:
    ctx.metadata_store.set_run_status(run_id, body.status, body.end_time)
    run = ctx.metadata_store.get_run(run_id)
    payload = {"status": str(run.status), "end_time": run.end_time}
    record_event(ctx, principal, "run.set_status", f"run:{run_id}", payload)
    return RunOut.of(run)


@router.delete("/runs/{run_id}", status_code=204)
def delete_run(run_id: str, ctx: Context, principal: Writer) -> Response:
    ctx.metadata_store.delete_run(run_id)
    record_event(ctx, principal, "run.delete", f"run:{run_id}", {})
    return Response(status_code=204)


@router.post("/runs/{run_id}/batch", status_code=204)
def log_batch(run_id: str, body: LogBatch, ctx: Context, principal: Writer) -> Response:
    """Metrics, params and tags, all or nothing (a param re-set differently is a conflict)."""
    ctx.metadata_store.log_batch(
        run_id,
        metrics=[metric.to_entity() for metric in body.metrics],
        params=[Param(p.key, p.value) for p in body.params],
        tags=[Tag(t.key, t.value) for t in body.tags],
        batch_id=body.batch_id,
    )
    payload = {
        "metrics": len(body.metrics),
        "params": sorted({p.key for p in body.params}),
        "tags": sorted({t.key for t in body.tags}),
    }
    record_event(ctx, principal, "run.log_batch", f"run:{run_id}", payload)
    return Response(status_code=204)


@router.put("/runs/{run_id}/heartbeat", status_code=204, dependencies=[WRITE])
def heartbeat_run(run_id: str, ctx: Context) -> Response:
    """The logging process is alive (not an audited change: it only moves ``heartbeat_at``)."""
    ctx.metadata_store.heartbeat_run(run_id)
    return Response(status_code=204)


@router.post("/runs/close-lapsed")
def close_lapsed_runs(body: CloseLapsedRuns, ctx: Context, principal: Writer) -> RunList:
    """End as KILLED the RUNNING runs whose heartbeat is older than ``lapsed_for_ms``."""
    closed = ctx.metadata_store.close_lapsed_runs(body.lapsed_for_ms, dry_run=body.dry_run)
    if not body.dry_run:
        for run in closed:
            payload = {"status": str(run.status), "end_time": run.end_time, "reason": "lapsed"}
            record_event(ctx, principal, "run.set_status", f"run:{run.id}", payload)
    return RunList(items=[RunOut.of(run) for run in closed])


@router.get("/runs/{run_id}/metric-history", dependencies=READ)
def get_metric_history(run_id: str, key: Annotated[str, Query()], ctx: Context) -> MetricHistory:
    """Every value logged for ``key``, ordered by step then timestamp."""
    history = ctx.metadata_store.get_metric_history(run_id, key)
    return MetricHistory(items=[MetricOut.of(metric) for metric in history])
