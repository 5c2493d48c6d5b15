"""The page of one run (``/ui/runs/{run_id}``): what ``loopml runs show`` prints (params,
latest metrics, tags, system info, artifacts) with metric curves, its nested runs (pipeline
steps, trials) a page at a time, its lineage (``loopml.governance.lineage.run_lineage``) and
an artifact browser with previews.

Beside it: ``/ui/runs/{run_id}/series`` (a metric's points for the chart, thinned by the
store: :meth:`~loopml.stores.metadata.run_store.RunStore.get_metric_series`) and
``/ui/runs/{run_id}/artifact`` (a file's bytes: a download, or an image shown inline).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, BinaryIO
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from loopml.core.entities import ArtifactEntry, ArtifactListing, Run
from loopml.core.errors import LoopMLError, NotFoundError
from loopml.core.hashing import CHUNK_SIZE, Digest
from loopml.core.validation import normalize_artifact_path
from loopml.dashboard.artifact_previews import IMAGE_MAX_BYTES, Preview, image_type, preview
from loopml.dashboard.formatting import duration, timestamp
from loopml.dashboard.links import Links
from loopml.dashboard.sources import DashboardSources, Guarded
from loopml.dashboard.templating import page, ui_path
from loopml.governance.lineage import run_lineage
from loopml.governance.lineage_graph import LineageNode, describe_node
from loopml.pipelines.runner import PIPELINE_TAG
from loopml.stores.artifacts.base import ArtifactStore
from loopml.stores.metadata.base import MetadataStore, RunQuery
from loopml.tracking.system_info import TAG_PREFIX

SLUGS = ()  # reached from the runs table, not from the navigation
CHILDREN_PER_PAGE = 50
ENTRIES_PER_PAGE = 100  # an artifact folder's children shown at once
KEYS_SHOWN = 500  # params, metrics and tags listed (a run may log thousands)
DEFAULT_POINTS = 1000
MAX_POINTS = 5000
RUN_ID = Path(max_length=64, description="The run's id.")
PACKAGES_TAG = f"{TAG_PREFIX}packages"
# a raw artifact never runs as a page of ours: no script, no plugin, no framing
ARTIFACT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


@dataclass(frozen=True)
class Folder:
    path: str
    parents: list[tuple[str, str]]  # (name, path) from the root to this folder
    children: list[ArtifactListing]
    token: str | None  # the store's token of this page of the folder (None: its first)
    next_token: str | None


@dataclass(frozen=True)
class LineageLine:
    depth: int
    relation: str
    text: str
    href: str | None  # the node's page (a run's, a dataset version's...), None for a commit


@dataclass(frozen=True)
class _Metadata:
    """What ``run_lineage`` reads (a Client, or here the server's store)."""

    metadata: MetadataStore


def add_routes(router: APIRouter, sources: DashboardSources, guarded: Guarded) -> None:
    for path, endpoint, summary, response in (
        ("/runs/{run_id}", _page(sources), "One run's page (HTML).", HTMLResponse),
        (
            "/runs/{run_id}/series",
            _series(sources.metadata),
            "A metric's points for the run page's chart, thinned by the store (JSON).",
            JSONResponse,
        ),
        (
            "/runs/{run_id}/artifact",
            _artifact(sources),
            "An artifact file's bytes: a download, or an image shown inline.",
            Response,
        ),
    ):
        router.add_api_route(
            path,
            endpoint,
            methods=["GET"],
            dependencies=guarded("runs:read"),
            summary=summary,
            response_class=response,
        )


def _page(sources: DashboardSources) -> Callable[..., HTMLResponse]:
    metadata = sources.metadata

    def dashboard_run(
        request: Request,
        run_id: Annotated[str, RUN_ID],
        path: Annotated[
            str, Query(max_length=1000, description="An artifact folder or file to show.")
        ] = "",
        entries: Annotated[
            str | None, Query(max_length=4000, description="The artifact folder's page token.")
        ] = None,
        children: Annotated[
            str | None, Query(max_length=2000, description="The nested runs' page token.")
        ] = None,
    ) -> HTMLResponse:
        run = metadata.get_run(run_id)
        path = normalize_artifact_path(path)
        experiment = metadata.get_experiment(run.experiment_id)
        parent = metadata.get_run(run.parent_run_id) if run.parent_run_id else None
        nested = metadata.search_runs(
            RunQuery(
                parent_run_id=run.id,
                order_by=("start_time ASC",),
                max_results=CHILDREN_PER_PAGE,
                page_token=children,
            )
        )
        folder, file, shown = _artifacts(metadata, sources.artifacts, run.id, path, entries)
        user_tags = {k: v for k, v in run.tags.items() if not k.startswith(TAG_PREFIX)}
        metrics = sorted(run.metrics.items())[:KEYS_SHOWN]
        here = f"{request.scope.get('root_path', '')}/ui/runs/{quote(run.id, safe='')}"
        return page(
            request,
            "run.html",
            "",
            {
                "run": run,
                "here": here,
                "experiment": experiment,
                "parent": parent,
                "started": timestamp(run.start_time),
                "ended": timestamp(run.end_time),
                "took": duration(run.start_time, run.end_time),
                "params": sorted(run.params.items())[:KEYS_SHOWN],
                "metrics": [(key, _number(value)) for key, value in metrics],
                "tags": sorted(user_tags.items())[:KEYS_SHOWN],
                "system": _system_info(run),
                "keys_shown": KEYS_SHOWN,
                "more_keys": max(len(run.params), len(run.metrics), len(user_tags)) > KEYS_SHOWN,
                "nested": [(child, duration(child.start_time, child.end_time)) for child in nested],
                "nested_next": nested.next_page_token,
                "nested_first": children is not None,
                "lineage": _lineage(metadata, run, Links(ui_path(request))),
                "pipeline_run": _pipeline_of(run, parent),
                "folder": folder,
                "file": file,
                "preview": shown,
                "folder_query": _folder_query,
                "points": DEFAULT_POINTS,
            },
        )

    return dashboard_run


def _series(metadata: MetadataStore) -> Callable[..., JSONResponse]:
    def dashboard_run_series(
        run_id: Annotated[str, RUN_ID],
        key: Annotated[str, Query(min_length=1, max_length=250, description="The metric.")],
        points: Annotated[
            int, Query(ge=2, le=MAX_POINTS, description="At most this many points.")
        ] = DEFAULT_POINTS,
    ) -> JSONResponse:
        series = metadata.get_metric_series(run_id, key, max_points=points)
        return JSONResponse(
            {
                "run": run_id,
                "key": series.key,
                "total": series.total,
                "downsampled": series.downsampled,
                "step": [m.step for m in series.points],
                # JSON has no NaN or infinity: a gap in the curve
                "value": [m.value if math.isfinite(m.value) else None for m in series.points],
                "timestamp": [m.timestamp for m in series.points],
            },
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
        )

    return dashboard_run_series


def _artifact(sources: DashboardSources) -> Callable[..., Response]:
    def dashboard_run_artifact(
        run_id: Annotated[str, RUN_ID],
        path: Annotated[str, Query(min_length=1, max_length=1000, description="The file.")],
        inline: Annotated[bool, Query(description="Show an image rather than save it.")] = False,
    ) -> Response:
        store = _artifact_store(sources)
        sources.metadata.get_run(run_id)
        entry = _file(sources.metadata, run_id, normalize_artifact_path(path))
        kind = image_type(entry.path)
        shown = inline and kind is not None and entry.size <= IMAGE_MAX_BYTES
        name = entry.path.rsplit("/", 1)[-1]
        disposition = "inline" if shown else "attachment"
        headers = {
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(name, safe='')}",
            "Content-Length": str(entry.size),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": ARTIFACT_POLICY,
            "Cache-Control": "private, no-cache",
        }
        media = kind if shown and kind is not None else "application/octet-stream"
        stream = store.open(Digest.parse(entry.digest))  # a missing blob: 404 before any byte
        return StreamingResponse(_chunks(stream), media_type=media, headers=headers)

    return dashboard_run_artifact


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    """The blob's bytes, verified as they stream (a changed blob fails at its end)."""
    with stream:
        yield from iter(lambda: stream.read(CHUNK_SIZE), b"")


def _artifact_store(sources: DashboardSources) -> ArtifactStore:
    if sources.artifacts is None:
        raise NotFoundError("This dashboard was opened without the artifact store.")
    return sources.artifacts


def _file(metadata: MetadataStore, run_id: str, path: str) -> ArtifactEntry:
    found = metadata.list_artifact_children(run_id, path, max_results=1).items
    for each in found:  # a file lists itself alone, with its digest and size
        if not each.is_dir and each.path == path and each.digest is not None:
            return ArtifactEntry(each.path, each.digest, each.size or 0)
    raise NotFoundError(f"Run {run_id} has no artifact file at {path!r}.")


def _artifacts(
    metadata: MetadataStore,
    artifacts: ArtifactStore | None,
    run_id: str,
    path: str,
    token: str | None,
) -> tuple[Folder, ArtifactListing | None, Preview | None]:
    """The folder shown (``path``'s, or its parent's when ``path`` is a file), one page of
    it read from the store (``token``: the store's token of that page), the file chosen, and
    its preview (None without the artifact store)."""
    file: ArtifactListing | None = None
    if path:
        probe = metadata.list_artifact_children(run_id, path, max_results=1).items
        if not probe:
            raise NotFoundError(f"Run {run_id} has no artifact at {path!r}.")
        if not probe[0].is_dir and probe[0].path == path:
            file = probe[0]
            path = path.rpartition("/")[0]
    listing = metadata.list_artifact_children(
        run_id, path, max_results=ENTRIES_PER_PAGE, page_token=token
    )
    shown = None
    if file is not None and artifacts is not None and file.digest is not None:
        try:
            shown = preview(artifacts, file.path, file.digest, file.size)
        except LoopMLError as exc:  # a blob missing or changed: the rest of the page holds
            shown = Preview("none", note=str(exc))
    parents = [("artifacts", "")]
    parts = path.split("/") if path else []
    parents += [(part, "/".join(parts[: i + 1])) for i, part in enumerate(parts)]
    folder = Folder(path, parents, listing.items, token, listing.next_page_token)
    return folder, file, shown


def _folder_query(path: str, token: str | None = None) -> str:
    values: dict[str, str] = {"path": path}
    if token:
        values["entries"] = token
    return urlencode(values)


def _system_info(run: Run) -> list[tuple[str, str]]:
    """The tags loopml records about where the run ran (git, Python, packages, host...),
    without their prefix; the packages as ``name version`` pairs."""
    found: list[tuple[str, str]] = []
    for key, value in sorted(run.tags.items()):
        if not key.startswith(TAG_PREFIX):
            continue
        if key == PACKAGES_TAG:
            try:
                versions = json.loads(value)
                value = ", ".join(f"{name} {version}" for name, version in versions.items())
            except (ValueError, AttributeError):
                pass
        found.append((key[len(TAG_PREFIX) :], value))
    return found[:KEYS_SHOWN]


def _lineage(metadata: MetadataStore, run: Run, links: Links) -> dict[str, list[LineageLine]]:
    graph = run_lineage(_Metadata(metadata), run.id)
    return {
        way: [
            _line(depth, relation, node, links)
            for depth, relation, node in graph.walk(downstream=down)
        ]
        for way, down in (("upstream", False), ("downstream", True))
    }


def _line(depth: int, relation: str, node: LineageNode, links: Links) -> LineageLine:
    href = links.node(node.kind, node.id)
    return LineageLine(min(depth, 6), relation, describe_node(node), href)


def _pipeline_of(run: Run, parent: Run | None) -> str | None:
    """The id of the pipeline run ``run`` is, or is a step of (its DAG's page), else None."""
    if PIPELINE_TAG in run.tags:
        return run.id
    if parent is not None and PIPELINE_TAG in parent.tags:
        return parent.id
    return None


def _number(value: float) -> str:
    return f"{value:.6g}"
