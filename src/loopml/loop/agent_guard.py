"""The rollback guard in action: for ``watch`` after the alias moved forward (by the agent or
by a person), the new champion's predictions since the move are compared with the previous
champion's before it (``judge_rollback``); when it is worse by the margin, a
``rollback_guard`` decision is recorded first, the alias is moved back (as ``loopml models
rollback`` does), and the decision advanced to ``rolled_back`` — with the retraining decision
that promoted the version, if there is one. Resumed after a crash from the recorded decision:
an alias moved back already is not moved again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loopml.core.entities import AliasChange
from loopml.core.errors import NotFoundError
from loopml.core.loop_records import (
    Decision,
    DecisionState,
    DecisionUpdate,
    NewDecision,
    TriggerKind,
)
from loopml.loop.agent_actions import MAX_TEXT, AgentContext
from loopml.loop.agent_signals import WindowReader
from loopml.loop.decide import RollbackAction, judge_rollback
from loopml.loop.policy import RetrainingPolicy
from loopml.models.registry import set_alias

__all__ = ["GuardResult", "forward_moves", "guard_champion", "resume_rollback"]

S = DecisionState


@dataclass(frozen=True)
class GuardResult:
    """What the guard found this tick: its verdict and, for a rollback, the decision."""

    action: str  # roll_back, watch, keep
    reason: str
    version: int
    previous_version: int
    decision: Decision | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "reason": self.reason,
            "version": self.version,
            "previous_version": self.previous_version,
            "decision": None if self.decision is None else self.decision.id,
        }


def forward_moves(history: Sequence[AliasChange]) -> list[tuple[int, int]]:
    """The versions an alias went through, ``(version, when it was moved to it)``, current
    last; a move back to the version before (a rollback) undoes the move, as in
    ``registry.previous_versions``."""
    stack: list[tuple[int, int]] = []
    for change in history:
        if change.to_version is None:
            stack = []
        elif len(stack) >= 2 and stack[-2][0] == change.to_version:
            stack.pop()
        else:
            stack.append((change.to_version, change.at))
    return stack


def guard_champion(
    ctx: AgentContext, policy: RetrainingPolicy, reader: WindowReader, now_ms: int
) -> GuardResult | None:
    """Judge the champion if it was moved to within the guard's ``watch``; act on a rollback."""
    guard = policy.rollback_guard
    if guard is None:
        return None
    try:
        history = ctx.client.metadata.list_alias_history(policy.model, policy.alias)
    except NotFoundError:
        return None
    moves = forward_moves(history)
    if len(moves) < 2 or now_ms - moves[-1][1] >= guard.watch_ms:
        return None  # nothing to compare with, or the watch is over
    (version, promoted_at), (previous, _) = moves[-1], moves[-2]
    model = policy.model
    new = reader.span(f"{model}@{version}", promoted_at, now_ms, guard.watch_ms)
    before = reader.span(
        f"{model}@{previous}", promoted_at - guard.watch_ms, promoted_at, guard.watch_ms
    )
    verdict = judge_rollback(
        policy,
        version=version,
        previous_version=previous,
        promoted_at=promoted_at,
        now_ms=now_ms,
        new=new,
        previous=before,
    )
    if verdict.action is not RollbackAction.ROLL_BACK:
        return GuardResult(str(verdict.action), verdict.reason, version, previous)
    ctx.check_lease()
    decision = ctx.client.loop.record_decision(
        NewDecision(
            key=verdict.key,
            model=model,
            alias=policy.alias,
            trigger=TriggerKind.ROLLBACK_GUARD,
            evidence={**verdict.evidence, "reason": verdict.reason},
            champion_version=version,
        ),
        lease=ctx.lease,
    )
    ctx.say(f"{policy.ref}: rollback guard: {verdict.reason}")
    decision = resume_rollback(ctx, decision)
    return GuardResult(str(verdict.action), verdict.reason, version, previous, decision)


def resume_rollback(ctx: AgentContext, decision: Decision) -> Decision:
    """Carry a ``triggered`` rollback-guard decision through: move the alias back unless it
    was moved back already, then record it (and the promotion it undid) as rolled back."""
    if decision.state is not S.TRIGGERED:
        return decision
    version = decision.evidence.get("version")
    previous = decision.evidence.get("previous_version")
    if not isinstance(version, int) or not isinstance(previous, int):
        return ctx.move(decision, DecisionUpdate(S.TRIGGERED, S.FAILED, error="no versions"))
    try:
        current: int | None = ctx.client.metadata.get_model_alias(decision.model, decision.alias)
    except NotFoundError:
        current = None
    ref = f"{decision.model}@{decision.alias}"
    if current not in (version, previous):
        error = f"{ref} names version {current} now, not {version}: it was moved meanwhile"
        return ctx.move(decision, DecisionUpdate(S.TRIGGERED, S.FAILED, error=error))
    if current == version:
        ctx.check_lease()
        reason = f"loopml agent: rollback guard (decision {decision.id})"
        set_alias(decision.model, decision.alias, previous, reason=reason, client=ctx.client)
    reason_text = str(decision.evidence.get("reason") or "worse than the previous champion")
    action = f"rolled {ref} back from version {version} to {previous}: {reason_text}"
    moved = ctx.move(decision, DecisionUpdate(S.TRIGGERED, S.ROLLED_BACK, action=action[:MAX_TEXT]))
    _undo_promotion(ctx, decision, version)
    return moved


def _undo_promotion(ctx: AgentContext, rollback: Decision, version: int) -> None:
    """The retraining decision that promoted ``version`` becomes ``rolled_back`` too."""
    promoted = ctx.client.loop.list_decisions(model=rollback.model, states=(S.PROMOTED,))
    for decision in promoted.items:
        if decision.alias == rollback.alias and decision.candidate_version == version:
            action = f"rolled back by decision {rollback.id}"
            ctx.move(decision, DecisionUpdate(S.PROMOTED, S.ROLLED_BACK, action=action))
