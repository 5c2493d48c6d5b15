"""The pipelines pages (``/ui/pipelines``): pipeline runs newest first, and one run as a DAG
picture (server-rendered SVG) beside a table of its steps, with each step's log.

What a pipeline run records is read back as ``loopml pipeline run`` wrote it
(:mod:`loopml.pipelines.runner`): the run tagged ``loopml.pipeline``, one nested run per step
call (``loopml.cached`` on a cache hit), the lineage edges of each step (the stored outputs
it read and wrote: an edge of the picture joins the step that wrote a tree to the steps that
read it) and the step's ``step.log`` artifact.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from loopml.core.entities import ArtifactEntry, Run
from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.core.hashing import Digest
from loopml.core.roles import Permission
from loopml.dashboard.dag_layout import NODE_HEIGHT, NODE_WIDTH, DagLayout, layered_layout
from loopml.dashboard.formatting import duration, timestamp
from loopml.dashboard.sources import DashboardSources, Guarded
from loopml.dashboard.templating import page
from loopml.pipelines.runner import CACHED_TAG, EXECUTOR_TAG, PARAMS_TAG, PIPELINE_TAG
from loopml.pipelines.steplogs import LOG_NAME
from loopml.stores.artifacts.base import ArtifactStore
from loopml.stores.metadata.base import MetadataStore
from loopml.stores.metadata.run_store import RunQuery

SLUGS = ("pipelines",)
PERMISSION: Permission = "runs:read"
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
MAX_STEPS = 200  # steps drawn and listed; a larger run says so
LOGS_INLINE = 30  # steps whose log tail the run page shows (the others link to theirs)
TAIL_BYTES = 16 * 1024  # of a step's log on the run page
TAIL_LINES = 60
FULL_TAIL_BYTES = 256 * 1024  # on a step's own log page
FULL_TAIL_LINES = 5000
_CHUNK = 64 * 1024
RUN_ID = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@dataclass(frozen=True)
class LogTail:
    text: str
    truncated: bool  # earlier lines were left out
    size: int


@dataclass(frozen=True)
class StepView:
    id: str
    name: str
    status: str
    cached: bool
    started: str
    duration: str
    attempts: str
    inputs: tuple[str, ...]  # the steps whose outputs it read
    log: LogTail | None
    has_log: bool


def add_routes(router: APIRouter, sources: DashboardSources, guarded: Guarded) -> None:
    routes: list[tuple[str, Callable[..., HTMLResponse], str]] = [
        ("/pipelines", _runs(sources.metadata), "Pipeline runs, newest first (HTML)."),
        ("/pipelines/{run_id}", _run(sources), "A pipeline run: its DAG and steps (HTML)."),
        (
            "/pipelines/{run_id}/steps/{step_id}/log",
            _log(sources),
            "The end of one step's log (HTML).",
        ),
    ]
    for path, handler, summary in routes:
        router.add_api_route(
            path,
            handler,
            methods=["GET"],
            dependencies=guarded(PERMISSION),
            summary=summary,
            response_class=HTMLResponse,
        )


# handlers ------------------------------------------------------------------------------------
def _runs(metadata: MetadataStore) -> Callable[..., HTMLResponse]:
    def dashboard_pipelines(
        request: Request,
        pipeline: Annotated[
            str | None, Query(max_length=250, description="Only the runs of this pipeline.")
        ] = None,
        page_token: Annotated[
            str | None, Query(max_length=2000, description="The page's token (from 'Next').")
        ] = None,
        per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = DEFAULT_PER_PAGE,
    ) -> HTMLResponse:
        query = RunQuery(
            filter=_pipeline_filter(pipeline), max_results=per_page, page_token=page_token
        )
        runs = metadata.search_runs(query)
        here = {"pipeline": pipeline, "per_page": per_page}
        return page(
            request,
            "pipelines.html",
            "pipelines",
            {
                "pipeline": pipeline,
                "rows": [_run_row(run) for run in runs],
                "next_query": _query(here, page_token=runs.next_page_token)
                if runs.next_page_token
                else None,
                "first_query": _query(here) if page_token else None,
            },
        )

    return dashboard_pipelines


def _run(sources: DashboardSources) -> Callable[..., HTMLResponse]:
    def dashboard_pipeline_run(request: Request, run_id: RUN_ID) -> HTMLResponse:
        metadata = sources.metadata
        run = _pipeline_run(metadata, run_id)
        found = metadata.search_runs(
            RunQuery(
                parent_run_id=run.id,
                order_by=["attributes.start_time ASC"],
                max_results=MAX_STEPS,
            )
        )
        steps = list(found)
        edges = _edges(metadata, steps)
        names = {step.id: step.name for step in steps}
        views = [
            _step_view(
                sources.artifacts if index < LOGS_INLINE else None,
                metadata,
                step,
                [names[source] for source, target in edges if target == step.id],
            )
            for index, step in enumerate(steps)
        ]
        layout = layered_layout([step.id for step in steps], edges)
        return page(
            request,
            "pipelines_run.html",
            "pipelines",
            {
                "run": _run_row(run),
                "params": run.tags.get(PARAMS_TAG, ""),
                "steps": views,
                "more_steps": found.next_page_token is not None,
                "max_steps": MAX_STEPS,
                "logs_inline": LOGS_INLINE,
                "dag": _dag(layout, views),
                "node_width": NODE_WIDTH,
                "node_height": NODE_HEIGHT,
            },
        )

    return dashboard_pipeline_run


def _log(sources: DashboardSources) -> Callable[..., HTMLResponse]:
    def dashboard_pipeline_step_log(
        request: Request, run_id: RUN_ID, step_id: RUN_ID
    ) -> HTMLResponse:
        metadata = sources.metadata
        run = _pipeline_run(metadata, run_id)
        step = metadata.get_run(step_id)
        if step.parent_run_id != run.id:
            raise NotFoundError(f"Run {step_id} is not a step of pipeline run {run_id}.")
        logs = _log_entries(metadata, step.id)
        tail = _log_tail(sources.artifacts, logs, FULL_TAIL_BYTES, FULL_TAIL_LINES)
        return page(
            request,
            "pipelines_log.html",
            "pipelines",
            {"run": _run_row(run), "step": step, "log": tail, "log_name": LOG_NAME},
        )

    return dashboard_pipeline_step_log


# reading what the runner recorded ------------------------------------------------------------
def _pipeline_filter(pipeline: str | None) -> str:
    if pipeline is None:
        return f"tags.{PIPELINE_TAG} like '%'"
    if "'" in pipeline or "\\" in pipeline:
        raise InvalidInputError(
            f"The 'pipeline' parameter must be a pipeline's name, without quotes or "
            f"backslashes. Got {pipeline!r} instead."
        )
    return f"tags.{PIPELINE_TAG} = '{pipeline}'"


def _pipeline_run(metadata: MetadataStore, run_id: str) -> Run:
    run = metadata.get_run(run_id)
    if PIPELINE_TAG not in run.tags:
        raise NotFoundError(
            f"Run {run_id} is not a pipeline run (it has no tag {PIPELINE_TAG}); its page is "
            f"/ui/runs/{run_id}."
        )
    return run


def _edges(metadata: MetadataStore, steps: Sequence[Run]) -> list[tuple[str, str]]:
    """(writer, reader) pairs: a step that read a tree another step of the run wrote."""
    writers: dict[str, list[str]] = {}
    reads: list[tuple[str, str]] = []  # (digest, reader)
    for step in steps:
        for edge in metadata.list_artifact_edges(run_id=step.id):
            if edge.direction == "output":
                writers.setdefault(edge.digest, []).append(step.id)
            else:
                reads.append((edge.digest, step.id))
    pairs = [
        (writer, reader)
        for digest, reader in reads
        for writer in writers.get(digest, [])
        if writer != reader
    ]
    return list(dict.fromkeys(pairs))


def _step_view(
    artifacts: ArtifactStore | None, metadata: MetadataStore, step: Run, inputs: list[str]
) -> StepView:
    logs = _log_entries(metadata, step.id)
    attempts = step.metrics.get("attempts")
    return StepView(
        id=step.id,
        name=step.name,
        status=str(step.status),
        cached=step.tags.get(CACHED_TAG) == "true",
        started=timestamp(step.start_time),
        duration=duration(step.start_time, step.end_time),
        attempts=f"{attempts:g}" if attempts is not None else "",
        inputs=tuple(inputs),
        log=_log_tail(artifacts, logs, TAIL_BYTES, TAIL_LINES),
        has_log=bool(logs),
    )


def _log_entries(metadata: MetadataStore, run_id: str) -> list[ArtifactEntry]:
    """The run's ``step.log`` (an empty list when it has none)."""
    return [e for e in metadata.list_artifact_entries(run_id, LOG_NAME) if e.path == LOG_NAME]


def _log_tail(
    artifacts: ArtifactStore | None, logs: list[ArtifactEntry], max_bytes: int, max_lines: int
) -> LogTail | None:
    """The last ``max_lines`` lines in the last ``max_bytes`` of the log (streamed: memory
    stays bounded whatever its size); None without a log or an artifact store to read it."""
    if artifacts is None or not logs:
        return None
    kept: deque[bytes] = deque()
    held = 0
    with artifacts.open(Digest.parse(logs[0].digest)) as reader:
        while chunk := reader.read(_CHUNK):
            kept.append(chunk)
            held += len(chunk)
            while held - len(kept[0]) >= max_bytes:
                held -= len(kept.popleft())
    data = b"".join(kept)
    cut = len(data) > max_bytes
    data = data[-max_bytes:]
    lines = data.decode("utf-8", errors="replace").splitlines()
    if cut and lines:
        lines = lines[1:]  # the first line was cut somewhere in its middle
    truncated = cut or len(lines) > max_lines
    return LogTail("\n".join(lines[-max_lines:]), truncated, logs[0].size)


# what the templates show ---------------------------------------------------------------------
def _run_row(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "pipeline": run.tags.get(PIPELINE_TAG, ""),
        "status": str(run.status),
        "started": timestamp(run.start_time),
        "duration": duration(run.start_time, run.end_time),
        "executor": run.tags.get(EXECUTOR_TAG, ""),
    }


def _dag(layout: DagLayout, steps: Sequence[StepView]) -> dict[str, Any]:
    by_id = {step.id: step for step in steps}
    return {
        "width": layout.width,
        "height": layout.height,
        "nodes": [(box, by_id[box.id]) for box in layout.nodes],
        "edges": [
            (edge, by_id[edge.source].name, by_id[edge.target].name) for edge in layout.edges
        ],
    }


def _query(values: dict[str, str | int | None], **more: str | None) -> str:
    return urlencode({k: v for k, v in {**values, **more}.items() if v is not None})
