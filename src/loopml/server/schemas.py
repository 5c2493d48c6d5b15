"""Pydantic models at the HTTP boundary; the entities stay frozen dataclasses inside.

Request models are strict (a string is not silently turned into a number) and refuse unknown
fields, so a mistyped request fails with a 400 naming the field. Deeper checks (key syntax,
lengths, artifact paths) are the store's, so embedded and remote callers get the same errors.
Floats that may be NaN or infinite travel as the strings of :mod:`loopml.stores.remote.wire`.
The dataset models are built from the entities' dataclass fields, so a field added to
``DatasetVersion`` is accepted and returned without a change here.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    create_model,
)

from loopml.core.entities import (
    AliasChange,
    ArtifactEdge,
    ArtifactEntry,
    DatasetInput,
    DatasetVersion,
    Event,
    Experiment,
    GateResult,
    Metric,
    ModelApproval,
    ModelVersion,
    Page,
    RegisteredModel,
    Run,
    RunStatus,
)
from loopml.stores.metadata.base import DEFAULT_MAX_RESULTS, NewRun, RunQuery
from loopml.stores.remote.wire import (
    decode_float,
    encode_float,
    entity_fields,
    entity_json,
    gate_result_json,
    model_version_json,
)

JsonFloat = Annotated[
    float,
    BeforeValidator(decode_float),
    PlainSerializer(encode_float, return_type=float | str, when_used="json"),
    Field(
        json_schema_extra={"description": 'A number, or "NaN", "Infinity", "-Infinity".'},
    ),
]
LooseRunStatus = Annotated[RunStatus, Field(strict=False)]


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


# experiments
class ExperimentCreate(_Request):
    name: str
    tags: dict[str, str] | None = None


class ExperimentOut(_Response):
    id: str
    name: str
    created_at: int
    tags: dict[str, str]

    @classmethod
    def of(cls, experiment: Experiment) -> ExperimentOut:
        return cls(
            id=experiment.id,
            name=experiment.name,
            created_at=experiment.created_at,
            tags=dict(experiment.tags),
        )


class ExperimentPage(_Response):
    items: list[ExperimentOut]
    next_page_token: str | None = None

    @classmethod
    def of(cls, page: Page[Experiment]) -> ExperimentPage:
        return cls(
            items=[ExperimentOut.of(e) for e in page.items], next_page_token=page.next_page_token
        )


# runs
class RunCreate(_Request):
    """A new run; its experiment by id, or by name (created if there is none yet)."""

    experiment_id: str | None = None
    experiment_name: str | None = None
    name: str
    start_time: int
    parent_run_id: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    run_id: str | None = None

    def to_new_run(self) -> NewRun:
        return NewRun(
            experiment_id=self.experiment_id,
            name=self.name,
            start_time=self.start_time,
            parent_run_id=self.parent_run_id,
            tags=self.tags,
            run_id=self.run_id,
            experiment_name=self.experiment_name,
        )


class RunOut(_Response):
    id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None
    parent_run_id: str | None
    params: dict[str, str]
    metrics: dict[str, JsonFloat]
    tags: dict[str, str]
    heartbeat_at: int | None = None

    @classmethod
    def of(cls, run: Run) -> RunOut:
        return cls(
            id=run.id,
            experiment_id=run.experiment_id,
            name=run.name,
            status=run.status,
            start_time=run.start_time,
            end_time=run.end_time,
            parent_run_id=run.parent_run_id,
            params=dict(run.params),
            metrics=dict(run.metrics),
            tags=dict(run.tags),
            heartbeat_at=run.heartbeat_at,
        )


class RunPage(_Response):
    items: list[RunOut]
    next_page_token: str | None = None

    @classmethod
    def of(cls, page: Page[Run]) -> RunPage:
        return cls(items=[RunOut.of(r) for r in page.items], next_page_token=page.next_page_token)


class RunStatusUpdate(_Request):
    status: LooseRunStatus
    end_time: int | None = None


class MetricIn(_Request):
    key: str
    value: JsonFloat
    step: int
    timestamp: int

    def to_entity(self) -> Metric:
        return Metric(key=self.key, value=self.value, step=self.step, timestamp=self.timestamp)


class KeyValue(_Request):
    key: str
    value: str


class LogBatch(_Request):
    metrics: list[MetricIn] = Field(default_factory=list)
    params: list[KeyValue] = Field(default_factory=list)
    tags: list[KeyValue] = Field(default_factory=list)
    # the client's id of this batch: the same id again is stored once (see log_batch)
    batch_id: str | None = None


class CloseLapsedRuns(_Request):
    lapsed_for_ms: int
    dry_run: bool = False


class RunList(_Response):
    items: list[RunOut]


class MetricOut(_Response):
    key: str
    value: JsonFloat
    step: int
    timestamp: int

    @classmethod
    def of(cls, metric: Metric) -> MetricOut:
        return cls(key=metric.key, value=metric.value, step=metric.step, timestamp=metric.timestamp)


class MetricHistory(_Response):
    items: list[MetricOut]


class RunSearch(_Request):
    experiment_ids: list[str] = Field(default_factory=list)
    filter: str | None = None
    order_by: list[str] = Field(default_factory=list)
    max_results: int = DEFAULT_MAX_RESULTS
    page_token: str | None = None
    parent_run_id: str | None = None

    def to_query(self) -> RunQuery:
        return RunQuery(
            experiment_ids=self.experiment_ids,
            filter=self.filter,
            order_by=self.order_by,
            max_results=self.max_results,
            page_token=self.page_token,
            parent_run_id=self.parent_run_id,
        )


# artifacts
class ArtifactEntryModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    path: str
    digest: str
    size: int

    @classmethod
    def of(cls, entry: ArtifactEntry) -> ArtifactEntryModel:
        return cls(path=entry.path, digest=entry.digest, size=entry.size)

    def to_entity(self) -> ArtifactEntry:
        return ArtifactEntry(path=self.path, digest=self.digest, size=self.size)


class ArtifactEntriesIn(_Request):
    entries: list[ArtifactEntryModel]


class ArtifactEntries(_Response):
    items: list[ArtifactEntryModel]


class BlobOut(_Response):
    digest: str = Field(examples=["blake3:" + "0" * 64])
    size: int


# events
class EventIn(_Request):
    actor: str
    action: str
    target: str
    payload: dict[str, JsonValue] = Field(default_factory=dict)


class EventOut(_Response):
    id: int
    timestamp: int
    actor: str
    action: str
    target: str
    payload: dict[str, JsonValue]

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls.model_validate(
            {
                "id": event.id,
                "timestamp": event.timestamp,
                "actor": event.actor,
                "action": event.action,
                "target": event.target,
                "payload": event.payload,
            }
        )


class EventPage(_Response):
    items: list[EventOut]
    next_page_token: str | None = None

    @classmethod
    def of(cls, page: Page[Event]) -> EventPage:
        return cls(items=[EventOut.of(e) for e in page.items], next_page_token=page.next_page_token)


# datasets
def entity_model(
    entity: type, name: str, base: type[BaseModel], *, exclude: Collection[str] = ()
) -> type[BaseModel]:
    """A pydantic model with the fields (types, defaults) of the dataclass ``entity``."""
    definitions: dict[str, Any] = {}
    for field in entity_fields(entity):
        if field.name not in exclude:
            kind: Any = JsonFloat if field.kind is float else field.kind
            annotation = kind | None if field.optional else kind
            definitions[field.name] = (annotation, ... if field.required else field.default)
    doc = f"A {entity.__name__}" + (f" without {', '.join(exclude)}." if exclude else ".")
    return create_model(name, __base__=base, __doc__=doc, **definitions)


if TYPE_CHECKING:  # built at runtime from the entities' fields; mypy sees the base classes
    DatasetVersionIn = _Request
    DatasetVersionOut = _Response
    DatasetInputRef = _Request
    DatasetInputOut = _Response
    ArtifactEdgeRef = _Request
    ArtifactEdgeOut = _Response
    ModelApprovalOut = _Response
else:
    DatasetVersionIn = entity_model(
        DatasetVersion, "DatasetVersionIn", _Request, exclude=("dataset", "version")
    )
    DatasetVersionOut = entity_model(DatasetVersion, "DatasetVersionOut", _Response)
    DatasetInputRef = entity_model(DatasetInput, "DatasetInputRef", _Request, exclude=("run_id",))
    DatasetInputOut = entity_model(DatasetInput, "DatasetInputOut", _Response)
    ArtifactEdgeRef = entity_model(ArtifactEdge, "ArtifactEdgeRef", _Request, exclude=("run_id",))
    ArtifactEdgeOut = entity_model(ArtifactEdge, "ArtifactEdgeOut", _Response)
    ModelApprovalOut = entity_model(ModelApproval, "ModelApprovalOut", _Response)


def dataset_version_out(version: DatasetVersion) -> DatasetVersionOut:
    return DatasetVersionOut.model_validate(entity_json(version))


class DatasetVersionAdded(_Response):
    version: DatasetVersionOut
    added: bool = Field(description="False: the newest version already had this tree.")


class DatasetVersionList(_Response):
    items: list[DatasetVersionOut]

    @classmethod
    def of(cls, versions: list[DatasetVersion]) -> DatasetVersionList:
        return cls(items=[dataset_version_out(v) for v in versions])


class DatasetInputsIn(_Request):
    inputs: list[DatasetInputRef]


class DatasetInputList(_Response):
    items: list[DatasetInputOut]

    @classmethod
    def of(cls, inputs: list[DatasetInput]) -> DatasetInputList:
        return cls(items=[DatasetInputOut.model_validate(entity_json(e)) for e in inputs])


# artifact lineage
class ArtifactEdgesIn(_Request):
    edges: list[ArtifactEdgeRef]


class ArtifactEdgeList(_Response):
    items: list[ArtifactEdgeOut]

    @classmethod
    def of(cls, edges: list[ArtifactEdge]) -> ArtifactEdgeList:
        return cls(items=[ArtifactEdgeOut.model_validate(entity_json(e)) for e in edges])


# model registry
class ModelVersionIn(_Request):
    """A new version of the model named in the path; its number is assigned by the store."""

    flavor: str = Field(examples=["sklearn"])
    tree_digest: str = Field(examples=["blake3:" + "0" * 64])
    created_at: int
    run_id: str | None = None
    signature: dict[str, JsonValue] | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    datasets: list[str] = Field(default_factory=list, examples=[["iris@3"]])
    requirements: list[str] = Field(default_factory=list)
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    created_by: str | None = None

    def to_entity(self, model: str) -> ModelVersion:
        return ModelVersion(
            model=model,
            version=0,
            flavor=self.flavor,
            tree_digest=self.tree_digest,
            created_at=self.created_at,
            run_id=self.run_id,
            signature=self.signature,
            metrics=self.metrics,
            datasets=tuple(self.datasets),
            requirements=tuple(self.requirements),
            description=self.description,
            tags=self.tags,
            created_by=self.created_by,
        )


class ModelVersionOut(_Response):
    model: str
    version: int
    flavor: str
    tree_digest: str
    created_at: int
    run_id: str | None
    signature: dict[str, JsonValue] | None
    metrics: dict[str, float]
    datasets: list[str]
    requirements: list[str]
    description: str
    tags: dict[str, str]
    created_by: str | None

    @classmethod
    def of(cls, version: ModelVersion) -> ModelVersionOut:
        return cls.model_validate(model_version_json(version))


class ModelVersionList(_Response):
    items: list[ModelVersionOut]

    @classmethod
    def of(cls, versions: list[ModelVersion]) -> ModelVersionList:
        return cls(items=[ModelVersionOut.of(v) for v in versions])


class RegisteredModelOut(_Response):
    name: str
    created_at: int
    updated_at: int
    description: str
    latest_version: int | None
    aliases: dict[str, int]

    @classmethod
    def of(cls, model: RegisteredModel) -> RegisteredModelOut:
        return cls(
            name=model.name,
            created_at=model.created_at,
            updated_at=model.updated_at,
            description=model.description,
            latest_version=model.latest_version,
            aliases=dict(model.aliases),
        )


class RegisteredModelList(_Response):
    items: list[RegisteredModelOut]

    @classmethod
    def of(cls, models: list[RegisteredModel]) -> RegisteredModelList:
        return cls(items=[RegisteredModelOut.of(m) for m in models])


class AliasSet(_Request):
    version: int
    reason: str = ""


class AliasOut(_Response):
    model: str
    alias: str
    version: int


class AliasChangeOut(_Response):
    model: str
    alias: str
    from_version: int | None = Field(description="None: the alias was not set.")
    to_version: int | None = Field(description="None: the alias was removed.")
    at: int
    actor: str | None
    reason: str

    @classmethod
    def of(cls, change: AliasChange) -> AliasChangeOut:
        return cls(
            model=change.model,
            alias=change.alias,
            from_version=change.from_version,
            to_version=change.to_version,
            at=change.at,
            actor=change.actor,
            reason=change.reason,
        )


class AliasHistory(_Response):
    items: list[AliasChangeOut]

    @classmethod
    def of(cls, changes: list[AliasChange]) -> AliasHistory:
        return cls(items=[AliasChangeOut.of(c) for c in changes])


class TagValue(_Request):
    value: str


class GateResultIn(_Request):
    """A gate evaluation of the version named in the path; the caller is its actor."""

    id: str = Field(examples=["0" * 32], description="32 lowercase hex characters (new_id()).")
    passed: bool
    checks: list[dict[str, JsonValue]]
    policy: dict[str, JsonValue]
    policy_digest: str = Field(examples=["sha256:" + "0" * 64])
    evaluated_at: int
    against: int | None = Field(default=None, description="The champion's version, if any.")
    dataset: str | None = Field(default=None, examples=["churn_holdout@3"])

    def to_entity(self, model: str, version: int, actor: str) -> GateResult:
        return GateResult(
            id=self.id,
            model=model,
            version=version,
            passed=self.passed,
            checks=tuple(self.checks),
            policy=self.policy,
            policy_digest=self.policy_digest,
            evaluated_at=self.evaluated_at,
            against=self.against,
            dataset=self.dataset,
            actor=actor,
        )


class GateResultOut(_Response):
    id: str
    model: str
    version: int
    passed: bool
    checks: list[dict[str, JsonValue]]
    policy: dict[str, JsonValue]
    policy_digest: str
    evaluated_at: int
    against: int | None
    dataset: str | None
    actor: str | None

    @classmethod
    def of(cls, result: GateResult) -> GateResultOut:
        return cls.model_validate(gate_result_json(result))


class GateResultList(_Response):
    items: list[GateResultOut]

    @classmethod
    def of(cls, results: list[GateResult]) -> GateResultList:
        return cls(items=[GateResultOut.of(r) for r in results])


class ApprovalIn(_Request):
    """An approval of the version named in the path; the caller is its actor."""

    comment: str = ""


def model_approval_out(approval: ModelApproval) -> ModelApprovalOut:
    return ModelApprovalOut.model_validate(entity_json(approval))


class ModelApprovalList(_Response):
    items: list[ModelApprovalOut]

    @classmethod
    def of(cls, approvals: list[ModelApproval]) -> ModelApprovalList:
        return cls(items=[model_approval_out(a) for a in approvals])


# service
class Health(_Response):
    status: Literal["ok"] = "ok"
    version: str


class ErrorDetail(_Response):
    code: str = Field(examples=["not_found"])
    message: str


class ErrorBody(_Response):
    """The shape of every error response."""

    error: ErrorDetail
