"""Pydantic models of the model registry routes: versions, aliases, tags, gate results and
approvals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, JsonValue

from loopml.core.entities import (
    AliasChange,
    GateResult,
    ModelApproval,
    ModelVersion,
    Page,
    RegisteredModel,
)
from loopml.server.schema_base import RequestModel as _Request
from loopml.server.schema_base import ResponseModel as _Response
from loopml.server.schema_base import entity_model
from loopml.stores.remote.wire import entity_json, gate_result_json, model_version_json

if TYPE_CHECKING:  # built at runtime from the entity's fields; mypy sees the base class
    ModelApprovalOut = _Response
else:
    ModelApprovalOut = entity_model(ModelApproval, "ModelApprovalOut", _Response)


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
    next_page_token: str | None = None

    @classmethod
    def of(cls, versions: list[ModelVersion] | Page[ModelVersion]) -> ModelVersionList:
        token = versions.next_page_token if isinstance(versions, Page) else None
        return cls(items=[ModelVersionOut.of(v) for v in versions], next_page_token=token)


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
    next_page_token: str | None = None

    @classmethod
    def of(cls, models: list[RegisteredModel] | Page[RegisteredModel]) -> RegisteredModelList:
        token = models.next_page_token if isinstance(models, Page) else None
        return cls(items=[RegisteredModelOut.of(m) for m in models], next_page_token=token)


class AliasSet(_Request):
    version: int
    reason: str = ""
    force: bool = Field(
        default=False,
        description="Move a protected alias although the server's promotion policy does not "
        "allow it yet; needs a reason, recorded as 'forced: <reason>'.",
    )


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
    next_page_token: str | None = None

    @classmethod
    def of(cls, changes: list[AliasChange] | Page[AliasChange]) -> AliasHistory:
        token = changes.next_page_token if isinstance(changes, Page) else None
        return cls(items=[AliasChangeOut.of(c) for c in changes], next_page_token=token)


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
    next_page_token: str | None = None

    @classmethod
    def of(cls, results: list[GateResult] | Page[GateResult]) -> GateResultList:
        token = results.next_page_token if isinstance(results, Page) else None
        return cls(items=[GateResultOut.of(r) for r in results], next_page_token=token)


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
