"""Pydantic models of the loop-decision routes: strict requests that refuse unknown fields;
states and triggers travel as text and are checked by the store (one message everywhere)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, JsonValue

from loopml.core.entities import Page
from loopml.core.loop_records import Decision, DecisionUpdate, Lease, NewDecision


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LeaseFence(_Request):
    """The lease a fenced write is made under."""

    name: str
    holder: str
    token: int

    def to_lease(self) -> Lease:
        return Lease(self.name, self.holder, self.token, 0, 0)


class DecisionCreate(_Request):
    key: str
    model: str
    alias: str
    trigger: str
    evidence: dict[str, JsonValue]
    champion_version: int | None = None
    lease: LeaseFence | None = None

    def to_new(self) -> NewDecision:
        return NewDecision(
            key=self.key,
            model=self.model,
            alias=self.alias,
            trigger=self.trigger,  # type: ignore[arg-type]  # checked by the store
            evidence=dict(self.evidence),
            champion_version=self.champion_version,
        )


class DecisionAdvance(_Request):
    expected: str
    state: str
    pipeline_run_id: str | None = None
    candidate_version: int | None = None
    gate_result_id: str | None = None
    action: str | None = None
    error: str | None = None
    lease: LeaseFence | None = None

    def to_update(self) -> DecisionUpdate:
        fields = self.model_dump(exclude={"lease"})
        return DecisionUpdate(**fields)


class DecisionOut(_Response):
    id: str
    key: str
    model: str
    alias: str
    trigger: str
    evidence: dict[str, JsonValue]
    state: str
    created_at: int
    updated_at: int
    champion_version: int | None
    pipeline_run_id: str | None
    candidate_version: int | None
    gate_result_id: str | None
    action: str | None
    error: str | None
    lease_token: int | None

    @classmethod
    def of(cls, decision: Decision) -> DecisionOut:
        return cls.model_validate(decision.to_dict())


class DecisionAnswer(_Response):
    """``decision`` is None when no decision has the key."""

    decision: DecisionOut | None


class DecisionPage(_Response):
    items: list[DecisionOut]
    next_page_token: str | None = None

    @classmethod
    def of(cls, page: Page[Decision]) -> DecisionPage:
        return cls(items=[DecisionOut.of(d) for d in page], next_page_token=page.next_page_token)
