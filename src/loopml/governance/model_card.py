"""Model cards: what the store knows about one model version, gathered in one place.

:func:`build_card` reads (never writes) the registry record, its owner and intended use
(:mod:`~loopml.governance.model_description`), the training data versions and their stored
profiles, the params of the run (and pipeline steps) it came from, its metrics, gate results
(fairness checks among them), the global explanation registered with it
(``explain/global_importance.json`` in its files, when present), its lineage, approvals and
alias history. :mod:`~loopml.governance.card_render` turns the card into Markdown or one
self-contained HTML file.

>>> card = build_card(client, "churn@champion")  # doctest: +SKIP
>>> card.description.owner  # doctest: +SKIP
'risk-team@example.com'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loopml.core.entities import AliasChange, GateResult, ModelApproval, ModelVersion
from loopml.core.errors import LoopMLError
from loopml.core.hashing import Digest
from loopml.core.ids import now_ms
from loopml.core.refs import parse_dataset_ref
from loopml.data.profiles import TableProfile
from loopml.governance.lineage import PIPELINE_TAG, model_lineage, resolve_version
from loopml.governance.lineage_graph import LineageGraph
from loopml.governance.model_description import Description, description_of
from loopml.governance.store_reader import StoreReader
from loopml.stores.artifacts.trees import get_tree
from loopml.stores.metadata.base import RunQuery

__all__ = [
    "EXPLANATIONS_FILE",
    "ColumnSummary",
    "Explanation",
    "ModelCard",
    "TableSummary",
    "TrainingData",
    "build_card",
]

EXPLANATIONS_FILE = "explain/global_importance.json"
FAIRNESS_CHECK = "fairness"
MAX_PARAMS = 200
MAX_FEATURES = 20


@dataclass(frozen=True)
class ColumnSummary:
    name: str
    type: str
    missing: int
    distinct: int
    minimum: float | str | None
    maximum: float | str | None
    mean: float | None


@dataclass(frozen=True)
class TableSummary:
    path: str
    rows: int
    columns: list[ColumnSummary]


@dataclass(frozen=True)
class TrainingData:
    """One dataset version the model was trained on, with its profile summary (None when
    it is gone from the store)."""

    ref: str
    message: str = ""
    files: int = 0
    size: int = 0
    tables: list[TableSummary] = field(default_factory=list)
    missing: str | None = None  # why it could not be read


@dataclass(frozen=True)
class Explanation:
    """Global feature importance (mean |SHAP value|), the largest first."""

    method: str
    rows: int
    features: list[tuple[str, float]]
    expected_value: str


@dataclass(frozen=True)
class ModelCard:
    version: ModelVersion
    description: Description
    aliases: list[str]  # the aliases pointing at this version now
    training_data: list[TrainingData]
    params: list[tuple[str, str, str]]  # (run or step, key, value)
    gates: list[GateResult]
    approvals: list[ModelApproval]
    alias_history: list[AliasChange]  # moves to or from this version
    lineage: LineageGraph
    explanation: Explanation | None
    generated_at: int

    @property
    def ref(self) -> str:
        return f"{self.version.model}@{self.version.version}"

    @property
    def fairness(self) -> list[tuple[GateResult, Mapping[str, Any]]]:
        """Every fairness check of every gate result, with its result."""
        return [
            (result, check)
            for result in self.gates
            for check in result.checks
            if check.get("check") == FAIRNESS_CHECK
        ]


def build_card(client: StoreReader, ref: str) -> ModelCard:
    """The card of the version ``ref`` names (``churn@3``, ``churn@champion``)."""
    version = resolve_version(client, ref)
    store = client.metadata
    versions = store.list_model_versions(version.model)
    registered = store.get_registered_model(version.model)
    history = [
        change
        for change in store.list_alias_history(version.model)
        if version.version in (change.to_version, change.from_version)
    ]
    lineage = model_lineage(client, f"{version.model}@{version.version}")
    datasets = list(version.datasets) or [
        node.label for node in lineage.upstream_of(lineage.subject) if node.kind == "dataset"
    ]
    return ModelCard(
        version=version,
        description=description_of(version, versions),
        aliases=sorted(a for a, v in registered.aliases.items() if v == version.version),
        training_data=[_training_data(client, ref) for ref in datasets],
        params=_params(client, version),
        gates=store.list_gate_results(version.model, version.version),
        approvals=store.list_model_approvals(version.model, version.version),
        alias_history=history,
        lineage=lineage,
        explanation=_explanation(client, version),
        generated_at=now_ms(),
    )


def _training_data(client: StoreReader, ref: str) -> TrainingData:
    try:
        name, number = parse_dataset_ref(ref)
        data = client.metadata.get_dataset_version(name, number)
    except LoopMLError as exc:
        return TrainingData(ref, missing=exc.message)
    tables: list[TableSummary] = []
    if data.profiles_digest is not None:
        with client.artifacts.open(Digest.parse(data.profiles_digest)) as reader:
            profiles = json.loads(reader.read().decode("utf-8"))
        for path in sorted(profiles):
            profile = TableProfile.from_dict(profiles[path])
            columns = [
                ColumnSummary(
                    c.name, c.logical_type.value, c.missing, c.distinct, c.min, c.max, c.mean
                )
                for c in profile.columns
            ]
            tables.append(TableSummary(path, profile.rows, columns))
    return TrainingData(ref, data.message, data.file_count, data.size, tables)


def _params(client: StoreReader, version: ModelVersion) -> list[tuple[str, str, str]]:
    """The params of the run the version came from, then of its pipeline's steps."""
    if version.run_id is None:
        return []
    run = client.metadata.get_run(version.run_id)
    found = [(run.name, key, value) for key, value in sorted(run.params.items())]
    if PIPELINE_TAG in run.tags:
        page = client.metadata.search_runs(
            RunQuery(parent_run_id=run.id, order_by=("start_time ASC",), max_results=500)
        )
        for step in page.items:
            found += [(step.name, key, value) for key, value in sorted(step.params.items())]
    return found[:MAX_PARAMS]


def _explanation(client: StoreReader, version: ModelVersion) -> Explanation | None:
    """The stored global importance, when registration computed one (``loopml.models``'
    explanations, format in docs/explain-and-fairness.md)."""
    entries = get_tree(client.artifacts, Digest.parse(version.tree_digest))
    entry = next((e for e in entries if e.path == EXPLANATIONS_FILE), None)
    if entry is None:
        return None
    with client.artifacts.open(entry.digest) as reader:
        text = reader.read().decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
        names = [str(name) for name in data["feature_names"]]
        values = [_magnitude(value) for value in data["mean_abs_shap"]]
        rows = int(data.get("rows") or 0)
    except (
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
    ) as exc:  # the card still shows the rest
        problem = f"unreadable {EXPLANATIONS_FILE} ({type(exc).__name__}: {exc})"
        return Explanation(method=problem, rows=0, features=[], expected_value="unknown")
    ranked = sorted(
        ((name, value) for name, value in zip(names, values, strict=False) if math.isfinite(value)),
        key=lambda pair: -pair[1],
    )
    expected = data.get("expected_value")
    return Explanation(
        method=str(data.get("method", "unknown")),
        rows=rows,
        features=ranked[:MAX_FEATURES],
        expected_value=json.dumps(expected) if expected is not None else "unknown",
    )


def _magnitude(value: object) -> float:
    """A feature's mean |SHAP value|; for a model with one output per class (a list), the sum
    over the classes."""
    if isinstance(value, list):
        return float(sum(abs(float(part)) for part in value))
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return abs(float(value))
    raise TypeError(f"a mean |SHAP value| must be a number or a list of numbers, got {value!r}")
