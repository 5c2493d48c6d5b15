"""Lineage queries, both ways, composed from what the stores already record.

Upstream of a model version: the run it was registered from, the pipeline that run belongs to
and its steps (step to step through the stored outputs they passed on), the dataset versions
they read, the code commit. Downstream: its aliases (promotions and their history), the
deployments that served it, the batch-scoring runs that read it. Downstream of a data
version: every run that read it, every model version trained by those runs, and theirs.

Nothing here needs a store method of its own: the lineage edges (``dataset_inputs``,
``artifact_edges``), runs, the registry's versions and alias history and the loop store's
deployments are read through the ``MetadataStore`` and ``LoopStore`` protocols, so the same
queries run embedded and through ``loopml server``.

>>> graph = model_lineage(client, "churn@champion")  # doctest: +SKIP
>>> [node.label for node in graph.of_kind("dataset")]  # doctest: +SKIP
['customers@4']
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from loopml.core.entities import AliasChange, ModelVersion, Run
from loopml.core.errors import NotFoundError
from loopml.core.ids import format_ms, now_ms
from loopml.core.loop_records import Deployment, DeploymentState
from loopml.core.refs import format_dataset_ref, parse_dataset_ref, parse_model_ref
from loopml.governance.lineage_graph import LineageGraph
from loopml.stores.metadata.base import MetadataStore, RunQuery
from loopml.tracking.client import Client

__all__ = ["MetadataSource", "data_lineage", "model_lineage", "resolve_version", "run_lineage"]

PIPELINE_TAG = "loopml.pipeline"  # pipelines.runner's: a pipeline's parent run
COMMIT_TAG = "loopml.git.commit"
DIRTY_TAG = "loopml.git.dirty"
BATCH_MODEL_TAG = "loopml.model_digest"  # serving.batch's: a batch-scoring run
MODEL_EDGE = "model"  # the artifact edge name a batch-scoring run reads its model by
PAGE = 1000
RUNS_PER_OUTPUT = 50


class MetadataSource(Protocol):
    """What the queries that read only the metadata store need: a :class:`Client`, or the
    stores a server holds (the dashboard's)."""

    @property
    def metadata(self) -> MetadataStore: ...


def resolve_version(client: Client, ref: str) -> ModelVersion:
    """The version ``ref`` names (``churn``, ``churn@3``, ``churn@champion``)."""
    parsed = parse_model_ref(ref)
    version = parsed.version
    if parsed.alias is not None:
        version = client.metadata.get_model_alias(parsed.model, parsed.alias)
    return client.metadata.get_model_version(parsed.model, version)


def model_id(model: str, version: int) -> str:
    return f"model:{model}@{version}"


def model_lineage(
    client: Client, ref: str, *, upstream: bool = True, downstream: bool = True
) -> LineageGraph:
    """The lineage graph around the model version ``ref`` names."""
    version = resolve_version(client, ref)
    subject = model_id(version.model, version.version)
    graph = LineageGraph(subject)
    _add_version(graph, version)
    if upstream:
        _model_upstream(client, graph, version)
    if downstream:
        _model_downstream(client, graph, version)
    return graph


def data_lineage(
    client: Client, ref: str, *, upstream: bool = True, downstream: bool = True
) -> LineageGraph:
    """The lineage graph around the dataset version ``ref`` names (``iris@2``; ``iris`` or
    ``iris@latest`` for the newest): the run that produced it, and every run, model version,
    alias, deployment and batch output it reached."""
    name, number = parse_dataset_ref(ref)
    data = client.metadata.get_dataset_version(name, number)
    label = format_dataset_ref(data.dataset, data.version)
    subject = f"dataset:{label}"
    graph = LineageGraph(subject)
    details = {"files": str(data.file_count), "size": str(data.size), "message": data.message}
    graph.add(subject, "dataset", label, details)
    if upstream and data.run_id is not None:
        run = client.metadata.get_run(data.run_id)
        graph.link(_add_run(graph, run), subject, "produced")
    if downstream:
        _data_downstream(client, graph, data.dataset, data.version)
    return graph


def run_lineage(client: MetadataSource, run_id: str) -> LineageGraph:
    """The lineage graph around one run: upstream, the datasets it read, its code commit,
    the pipeline it is a step of and the runs whose stored outputs it read; downstream, a
    pipeline's steps and the runs that read its stored outputs (up to
    :data:`RUNS_PER_OUTPUT` of them per output: a shared tree may be read by thousands)."""
    run = client.metadata.get_run(run_id)
    graph = LineageGraph(f"run:{run.id}")
    subject = _add_run(graph, run)
    _add_datasets_read(client, graph, run)
    _add_commit(graph, run)
    if run.parent_run_id is not None:
        parent = client.metadata.get_run(run.parent_run_id)
        if PIPELINE_TAG in parent.tags:
            graph.link(subject, _add_run(graph, parent), "step of")
    if PIPELINE_TAG in run.tags:
        _add_steps(client, graph, run)
    for edge in client.metadata.list_artifact_edges(run_id=run.id):
        read = edge.direction == "input"  # then look for its producers, else its readers
        others = [
            other
            for other in client.metadata.list_artifact_edges(digest=edge.digest)
            if other.run_id != run.id and (other.direction == "output") == read
        ]
        for other in others[:RUNS_PER_OUTPUT]:
            node = _add_run(graph, client.metadata.get_run(other.run_id))
            relation = f"output as {edge.name if read else other.name}"
            graph.link(*((node, subject) if read else (subject, node)), relation)
    return graph


# -- upstream ----------------------------------------------------------------------------------


def _model_upstream(client: Client, graph: LineageGraph, version: ModelVersion) -> None:
    subject = graph.subject
    for ref in version.datasets:
        graph.link(_add_dataset(graph, ref), subject, "trained")
    if version.run_id is None:
        return
    try:
        run = client.metadata.get_run(version.run_id)
    except NotFoundError:  # deleted since: say so, the rest of the lineage still holds
        node = f"run:{version.run_id}"
        graph.add(node, "run", f"{version.run_id[:8]} (deleted)", {"status": "deleted"})
        graph.link(node, subject, "registered")
        return
    run_node = _add_run(graph, run)
    graph.link(run_node, subject, "registered")
    pipeline = run if PIPELINE_TAG in run.tags else None
    if pipeline is None and run.parent_run_id is not None:
        parent = client.metadata.get_run(run.parent_run_id)
        if PIPELINE_TAG in parent.tags:
            pipeline = parent
            graph.link(_add_run(graph, parent), subject, "pipeline")
    top = pipeline or run
    _add_datasets_read(client, graph, top)
    _add_commit(graph, top)
    if pipeline is not None:
        _add_steps(client, graph, pipeline)


def _add_steps(client: MetadataSource, graph: LineageGraph, pipeline: Run) -> None:
    """The pipeline's steps, the datasets each read, and which step's output fed which."""
    pipeline_node = f"run:{pipeline.id}"
    steps = list(_child_runs(client, pipeline.id))
    producers: dict[str, str] = {}  # output tree digest -> step node
    inputs: list[tuple[str, str, str]] = []  # (digest, step node, input name)
    for step in reversed(steps):  # the last step first: a tree walks back through outputs
        node = _add_run(graph, step, kind="step")
        graph.link(node, pipeline_node, "step of")
        _add_datasets_read(client, graph, step)
        for edge in client.metadata.list_artifact_edges(run_id=step.id):
            if edge.direction == "output":
                producers.setdefault(edge.digest, node)
            else:
                inputs.append((edge.digest, node, edge.name))
    for digest, node, name in inputs:
        if digest in producers:
            graph.link(producers[digest], node, f"output as {name}")


def _add_datasets_read(client: MetadataSource, graph: LineageGraph, run: Run) -> None:
    for edge in client.metadata.list_dataset_inputs(run_id=run.id):
        graph.link(
            _add_dataset(graph, format_dataset_ref(edge.dataset, edge.version)),
            f"run:{run.id}",
            "read by",
        )


def _add_commit(graph: LineageGraph, run: Run) -> None:
    commit = run.tags.get(COMMIT_TAG)
    if not commit:
        return
    dirty = run.tags.get(DIRTY_TAG) == "true"
    node = f"commit:{commit}"
    graph.add(
        node,
        "commit",
        commit[:12] + (" (dirty)" if dirty else ""),
        {"commit": commit, "dirty": "true" if dirty else "false"},
    )
    graph.link(node, f"run:{run.id}", "code")


# -- downstream --------------------------------------------------------------------------------


def _model_downstream(client: Client, graph: LineageGraph, version: ModelVersion) -> None:
    node = model_id(version.model, version.version)
    history = client.metadata.list_alias_history(version.model)
    spans = _alias_spans(history, version.version)
    now = client.metadata.get_registered_model(version.model).aliases
    for alias, changes in _changes_by_alias(history, version.version).items():
        alias_node = f"alias:{version.model}@{alias}"
        current = now.get(alias) == version.version
        details = {"now": "this version" if current else _points_at(now.get(alias))}
        for place, change in enumerate(changes, 1):
            details[f"move {place}"] = describe_change(change)
        graph.add(alias_node, "alias", f"{version.model}@{alias}", details)
        graph.link(node, alias_node, "promoted to")
    for deployment in _deployments(client, version.model):
        served = _served_by(deployment, version.version, spans)
        if served is None:
            continue
        source = node
        if deployment.alias and graph.has(f"alias:{version.model}@{deployment.alias}"):
            source = f"alias:{version.model}@{deployment.alias}"
        deployment_node = f"deployment:{deployment.id}"
        graph.add(
            deployment_node,
            "deployment",
            deployment.address,
            {
                "state": str(deployment.state),
                "served": served,
                "alias": deployment.alias or "",
                "started": format_ms(deployment.started_at),
                **({"ended": format_ms(deployment.ended_at)} if deployment.ended_at else {}),
            },
        )
        graph.link(source, deployment_node, "served by")
    for edge in client.metadata.list_artifact_edges(digest=version.tree_digest):
        if edge.direction != "input" or edge.name != MODEL_EDGE:
            continue
        run = client.metadata.get_run(edge.run_id)
        graph.link(node, _add_batch(graph, run), "scored")


def _data_downstream(client: Client, graph: LineageGraph, dataset: str, version: int) -> None:
    subject = graph.subject
    ref = format_dataset_ref(dataset, version)
    readers = [
        client.metadata.get_run(edge.run_id)
        for edge in client.metadata.list_dataset_inputs(dataset=dataset)
        if edge.version == version
    ]
    reader_ids = {run.id for run in readers}
    reached: dict[str, str] = {}  # run id -> the node that stands for it
    for run in readers:
        if run.parent_run_id in reader_ids:  # a step of a pipeline that read it: its pipeline
            continue
        if BATCH_MODEL_TAG in run.tags:
            graph.link(subject, _add_batch(graph, run), "scored")
            continue
        node = _add_run(graph, run)
        graph.link(subject, node, "read by")
        reached[run.id] = node
        if PIPELINE_TAG in run.tags:
            for step in _child_runs(client, run.id):
                reached.setdefault(step.id, node)
    for model in client.metadata.list_registered_models():
        for candidate in client.metadata.list_model_versions(model.name):
            source = reached.get(candidate.run_id or "")
            if source is None and ref not in candidate.datasets:
                continue
            _add_version(graph, candidate)
            graph.link(source or subject, model_id(candidate.model, candidate.version), "trained")
            _model_downstream(client, graph, candidate)


def _alias_spans(
    history: list[AliasChange], version: int
) -> dict[str, list[tuple[int, int | None]]]:
    """When each alias pointed at ``version``: ``(from, until)`` spans (until None: now)."""
    spans: dict[str, list[tuple[int, int | None]]] = {}
    for change in history:
        mine = spans.setdefault(change.alias, [])
        is_open = bool(mine) and mine[-1][1] is None
        if change.to_version == version and not is_open:
            mine.append((change.at, None))
        elif change.to_version != version and is_open:
            mine[-1] = (mine[-1][0], change.at)
    return {alias: found for alias, found in spans.items() if found}


def _changes_by_alias(history: list[AliasChange], version: int) -> dict[str, list[AliasChange]]:
    found: dict[str, list[AliasChange]] = {}
    for change in history:
        if version in (change.to_version, change.from_version):
            found.setdefault(change.alias, []).append(change)
    return found


def _served_by(
    deployment: Deployment, version: int, spans: dict[str, list[tuple[int, int | None]]]
) -> str | None:
    """How ``deployment`` served ``version``, or None if it did not."""
    if deployment.version == version:
        live = deployment.state is DeploymentState.LIVE
        return "serving it now" if live else "served it last"
    if deployment.alias is None:
        return None
    ended = deployment.ended_at
    if ended is None and deployment.state is DeploymentState.GONE:
        ended = deployment.expires_at
    until = ended if ended is not None else now_ms()
    for start, end in spans.get(deployment.alias, []):
        if start < until and (end is None or end > deployment.started_at):
            return f"served it through @{deployment.alias}"
    return None


def describe_change(change: AliasChange) -> str:
    """``2026-05-01 10:00:00 by ana: 2 → 3 (beats v2)``."""
    moved = f"{_number(change.from_version)} → {_number(change.to_version)}"
    who = f" by {change.actor}" if change.actor else ""
    why = f" ({change.reason})" if change.reason else ""
    return f"{format_ms(change.at)}{who}: {moved}{why}"


def _number(version: int | None) -> str:
    return "unset" if version is None else str(version)


def _points_at(version: int | None) -> str:
    return "unset" if version is None else f"version {version}"


# -- nodes -------------------------------------------------------------------------------------


def _add_version(graph: LineageGraph, version: ModelVersion) -> str:
    node = model_id(version.model, version.version)
    graph.add(
        node,
        "model",
        f"{version.model}@{version.version}",
        {
            "flavor": version.flavor,
            "created": format_ms(version.created_at),
            **({"description": version.description} if version.description else {}),
        },
    )
    return node


def _add_run(graph: LineageGraph, run: Run, *, kind: str | None = None) -> str:
    node = f"run:{run.id}"
    chosen = kind or ("pipeline" if PIPELINE_TAG in run.tags else "run")
    details = {"status": str(run.status), "started": format_ms(run.start_time), "id": run.id}
    if run.tags.get("loopml.cached") == "true":
        details["cached"] = "true"
    graph.add(node, chosen, f"{run.name} ({run.id[:8]})", details)
    return node


def _add_dataset(graph: LineageGraph, ref: str) -> str:
    node = f"dataset:{ref}"
    graph.add(node, "dataset", ref)
    return node


def _add_batch(graph: LineageGraph, run: Run) -> str:
    node = f"batch:{run.id}"
    details = {"run": run.id, "status": str(run.status), "started": format_ms(run.start_time)}
    for key in ("output", "rows", "output_digest", "input"):
        if key in run.params:
            details[key] = run.params[key]
    graph.add(node, "batch", run.params.get("output", run.name), details)
    return node


# -- paging ------------------------------------------------------------------------------------


def _child_runs(client: MetadataSource, parent_id: str) -> Iterator[Run]:
    token: str | None = None
    while True:
        page = client.metadata.search_runs(
            RunQuery(
                parent_run_id=parent_id,
                order_by=("start_time ASC",),
                max_results=PAGE,
                page_token=token,
            )
        )
        yield from page.items
        token = page.next_page_token
        if token is None:
            return


def _deployments(client: Client, model: str) -> Iterator[Deployment]:
    token: str | None = None
    while True:
        page = client.loop.list_deployments(model=model, max_results=100, page_token=token)
        yield from page.items
        token = page.next_page_token
        if token is None:
            return
