"""Frozen entities shared by every layer. Pydantic models live only at the HTTP/config edge."""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_NAME_LENGTH = 250


class RunStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.RUNNING


@dataclass(frozen=True, slots=True)
class Experiment:
    id: str
    name: str
    created_at: int
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    value: float
    step: int
    timestamp: int

    def same_value(self, other: Metric) -> bool:
        """Equality that treats NaN as equal to NaN (stored values round-trip)."""
        both_nan = math.isnan(self.value) and math.isnan(other.value)
        return (self.key, self.step, self.timestamp) == (
            other.key,
            other.step,
            other.timestamp,
        ) and (both_nan or self.value == other.value)


@dataclass(frozen=True, slots=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Tag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Run:
    """A run as stored. ``metrics`` holds the latest value per key (highest step, then time);
    ``heartbeat_at`` is when its logging process last showed it was alive (None: never)."""

    id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None
    parent_run_id: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    heartbeat_at: int | None = None


@dataclass(frozen=True, slots=True)
class ArtifactEntry:
    """One file logged to a run: its path inside the run, content digest and size."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class ArtifactListing:
    """A direct child of a folder in a run's artifacts (a file or a sub-folder)."""

    path: str
    is_dir: bool
    size: int | None = None
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One recorded mutation: who did what to which object, an entry of the hash-chained
    audit log (see :mod:`loopml.core.audit_chain`): ``seq`` is its position (1, 2, …),
    ``before_digest``/``after_digest`` digest the target's state around the change ("" when
    not known), ``request_id`` names the server request that made it ("" when embedded)."""

    id: int
    timestamp: int
    actor: str
    action: str
    target: str
    payload: dict[str, object] = field(default_factory=dict)
    seq: int = 0
    request_id: str = ""
    before_digest: str = ""
    after_digest: str = ""
    prev_hash: str = ""
    hash: str = ""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """A page of results; pass ``next_page_token`` back to get the next one (None at the end)."""

    items: list[T]
    next_page_token: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> T:
        return self.items[index]


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    """One immutable snapshot of a dataset: its files are the tree object ``tree_digest`` in
    the artifact store; ``profiles_digest`` names a JSON blob ``{path: TableProfile dict}``
    for the table files in it (None when it has no tables)."""

    dataset: str
    version: int
    tree_digest: str
    created_at: int
    message: str = ""
    size: int = 0
    file_count: int = 0
    profiles_digest: str | None = None
    run_id: str | None = None  # the run that produced it, if any
    # the path it was added from: project-relative when inside the project, else absolute
    source: str | None = None


@dataclass(frozen=True, slots=True)
class DatasetInput:
    """An edge "run used dataset version" (lineage)."""

    run_id: str
    dataset: str
    version: int


ARTIFACT_EDGE_DIRECTIONS = ("input", "output")
MAX_EDGE_NAME_LENGTH = 255


@dataclass(frozen=True, slots=True)
class ArtifactEdge:
    """An edge "run read (``input``) or wrote (``output``) this stored tree" (lineage).

    ``digest`` is the tree's digest as ``str(Digest)``; ``name`` is what the run calls it: a
    step's input parameter name, or ``"output"``.
    """

    run_id: str
    direction: str  # "input" or "output"
    digest: str
    name: str


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One immutable registered version of a model: its files are the tree ``tree_digest`` in
    the artifact store."""

    model: str
    version: int
    flavor: str  # "sklearn", "xgboost", "lightgbm", "onnx", "python_function"
    tree_digest: str  # str(Digest) of the stored files
    created_at: int  # ms since epoch
    run_id: str | None = None  # the run it came from
    signature: Mapping[str, Any] | None = None  # JSON object (inputs/outputs schema)
    metrics: Mapping[str, float] = field(default_factory=dict)
    datasets: tuple[str, ...] = ()  # "name@N" dataset versions it was trained on
    requirements: tuple[str, ...] = ()  # pip requirement lines
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    created_by: str | None = None


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A named model: its newest version and where its aliases point now."""

    name: str
    created_at: int
    updated_at: int  # last new version or alias change
    description: str = ""
    latest_version: int | None = None
    aliases: Mapping[str, int] = field(default_factory=dict)  # alias -> version now


@dataclass(frozen=True, slots=True)
class AliasChange:
    """One move of an alias: who, when, from which version to which (None: unset), why."""

    model: str
    alias: str
    from_version: int | None
    to_version: int | None
    at: int
    actor: str | None = None
    reason: str = ""


GATE_VARIANT_CHECK = "variant"  # the kind of a gate result's record of the variant scored


@dataclass(frozen=True, slots=True)
class GateResult:
    """One evaluation of a model version against a gate policy, stored with the version.

    ``checks`` holds one JSON object per check, in policy order: ``{"check": "metric" |
    "champion" | "slice" | "latency" | "schema" | "fairness", "name": str, "passed": bool,
    "observed": number | str | None, "limit": number | str | None, "detail": str}``; before
    them, a record of kind ``"variant"`` whose ``observed`` names the model variant scored."""

    id: str  # new_id(), chosen by the caller
    model: str
    version: int
    passed: bool
    checks: tuple[Mapping[str, Any], ...]
    policy: Mapping[str, Any]  # the policy as evaluated (JSON)
    policy_digest: str  # "sha256:<hex>" of the policy's canonical JSON
    evaluated_at: int  # ms since epoch
    against: int | None = None  # the champion version it was compared with
    dataset: str | None = None  # "name@N": the evaluation dataset version
    actor: str | None = None

    @property
    def variant(self) -> str | None:
        """The model variant that was scored, ``"onnx"`` or ``"native"`` (the check of kind
        ``"variant"``; None for results stored before gates recorded it)."""
        for check in self.checks:
            if check.get("check") == GATE_VARIANT_CHECK:
                return str(check.get("observed"))
        return None


@dataclass(frozen=True, slots=True)
class ModelApproval:
    """A person's approval of a model version for promotion."""

    model: str
    version: int
    at: int  # ms since epoch
    actor: str | None = None
    comment: str = ""
