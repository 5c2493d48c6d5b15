"""Carrying one retraining decision forward, from wherever it stopped (a crash leaves it in any
state): ``triggered → training → trained → gated → promoted | held | rejected``, ``held →
promoted``, ``failed`` when a step fails. Every move is a fenced compare-and-set through the
loop store, and every step checks what the store already holds before it acts, so a step that
was done before a crash is recorded, never done again:

- ``triggered``: moved to ``training`` before any pipeline starts;
- ``training``: the run tagged with the decision decides (``agent_training``): ended → the
  candidate it registered (``trained``) or the step's error (``failed``); running → wait;
- ``trained``: gated with the policy's gate file (as ``loopml gate`` does), result stored;
- ``gated``: a failed gate is ``rejected``; else promoted as ``loopml models promote`` does
  (``auto``, unless the alias names the candidate already) or ``held`` for an approval;
- ``held``: promoted once ``loopml models approve`` recorded an approval.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from loopml.core.entities import ModelVersion, Run, RunStatus
from loopml.core.errors import (
    BackendUnavailableError,
    LeaseLostError,
    LoopMLError,
    NotFoundError,
    PromotionBlockedError,
    StaleDecisionError,
)
from loopml.core.loop_records import Decision, DecisionState, DecisionUpdate, Lease
from loopml.loop.agent_training import (
    ERROR_TAG,
    Training,
    find_training_run,
    start_training,
    training_lease_name,
)
from loopml.loop.policy import PromotionMode, RetrainingPolicy
from loopml.models.gate_policy import read_policy
from loopml.models.gates import gate
from loopml.models.promotion import promote
from loopml.tracking.client import Client

__all__ = ["TRAINING_TTL_MS", "AgentContext", "Stopped", "carry_forward", "find_candidate"]

S = DecisionState
MAX_TEXT = 1900
# the training process's lease: long enough that a process busy importing (or a loaded
# machine) renews it in time; a training whose process died is failed this long after
TRAINING_TTL_MS = 60_000
_RUN_DEPTH = 4  # a version registered by a step's nested run (a trial) still counts


class Stopped(Exception):
    """The agent was asked to stop while it waited: the decision stays where it is."""


@dataclass
class AgentContext:
    """What acting needs besides the decision: the client, the project, the agent's lease
    (fencing every write), who it is (for the training lease), how to report a line."""

    client: Client
    project: Path
    lease: Lease | None
    holder: str
    training_ttl_ms: int = TRAINING_TTL_MS
    poll_s: float = 0.5
    stop: threading.Event = field(default_factory=threading.Event)
    say: Callable[[str], None] = lambda line: None
    trainings: dict[str, Training] = field(default_factory=dict)

    def move(self, decision: Decision, update: DecisionUpdate) -> Decision:
        """Advance ``decision``; when another writer moved it first, the stored one."""
        try:
            moved = self.client.loop.advance_decision(decision.id, update, lease=self.lease)
        except StaleDecisionError:
            return self.client.loop.get_decision(decision.id)
        self.say(f"{moved.model}@{moved.alias}: decision {moved.id[:8]} {update.state}")
        return moved

    def check_lease(self) -> None:
        """LeaseLostError once the agent's lease is no longer its own (checked while waiting,
        when no write would tell)."""
        if self.lease is None:
            return
        current = self.client.loop.get_lease(self.lease.name)
        if current is None or (current.holder, current.token) != (
            self.lease.holder,
            self.lease.token,
        ):
            raise LeaseLostError(
                f"The lease {self.lease.name!r} (token {self.lease.token}) is no longer held by "
                f"{self.lease.holder!r}; stopping."
            )


def carry_forward(ctx: AgentContext, policy: RetrainingPolicy, decision: Decision) -> Decision:
    """Move ``decision`` as far as it can go now; it stops settled, held, or where it was
    when the agent is asked to stop (:class:`Stopped` is not raised out of here)."""
    try:
        while decision.state.is_open:
            before = decision.state
            decision = _step(ctx, policy, decision)
            if decision.state is before:  # waiting (held for approval)
                break
    except Stopped:
        pass
    return decision


def _step(ctx: AgentContext, policy: RetrainingPolicy, decision: Decision) -> Decision:
    try:
        if decision.state is S.TRIGGERED:
            return ctx.move(decision, DecisionUpdate(S.TRIGGERED, S.TRAINING))
        if decision.state is S.TRAINING:
            return _resolve_training(ctx, policy, decision)
        if decision.state is S.TRAINED:
            return _gate(ctx, policy, decision)
        if decision.state is S.GATED:
            return _after_gate(ctx, policy, decision)
        return _held(ctx, policy, decision)
    except (LeaseLostError, Stopped, BackendUnavailableError):
        raise  # not the decision's fault: it stays where it is, for the next tick
    except LoopMLError as exc:
        return _fail(ctx, decision, exc.message)
    except Exception as exc:  # a gate's scoring, a library's bug: the decision's failure
        return _fail(ctx, decision, f"{type(exc).__name__}: {exc}")


def _fail(ctx: AgentContext, decision: Decision, error: str) -> Decision:
    text = error.strip() or "failed"
    return ctx.move(decision, DecisionUpdate(decision.state, S.FAILED, error=text[:MAX_TEXT]))


# training ----------------------------------------------------------------------------------


def _resolve_training(ctx: AgentContext, policy: RetrainingPolicy, decision: Decision) -> Decision:
    client = ctx.client
    while True:
        found = find_training_run(client, decision.id)
        if found is not None and found.status is not RunStatus.RUNNING:
            return _trained(ctx, policy, decision, found)
        held = client.loop.get_lease(training_lease_name(decision.id)) is not None
        mine = ctx.trainings.get(decision.id)
        if found is None and not held and (mine is None or mine.exit_code() is not None):
            if mine is not None:  # it ended without a run: it could not start the pipeline
                del ctx.trainings[decision.id]
                tail = mine.log_tail()
                return _fail(ctx, decision, f"the training process exited with {mine.exit_code()} "
                             f"before its pipeline run started: {tail or 'no output'}")  # fmt: skip
            _start(ctx, policy, decision)
        elif found is not None and not held and (mine is None or mine.exit_code() is not None):
            found = client.get_run(found.id)  # it may have ended since
            if found.status is RunStatus.RUNNING:  # its process died without ending it
                client.set_terminated(found.id, RunStatus.KILLED)
                return _fail(ctx, decision, f"the training process of pipeline run {found.id} "
                             "stopped before the run ended (its lease lapsed)")  # fmt: skip
            continue
        _wait(ctx)


def _start(ctx: AgentContext, policy: RetrainingPolicy, decision: Decision) -> None:
    params = []
    if policy.data_param is not None and policy.dataset is not None:
        version = decision.evidence.get("data_version")
        if not isinstance(version, int):
            version = ctx.client.metadata.get_dataset_version(policy.dataset).version
        params.append(f"{policy.data_param}={policy.dataset}@{version}")
    started = start_training(
        ctx.client,
        project=ctx.project,
        decision_id=decision.id,
        pipeline=policy.pipeline,
        params=params,
        holder=ctx.holder,
        lease_ttl_ms=ctx.training_ttl_ms,
    )
    if started is not None:
        ctx.trainings[decision.id] = started
        shown = " ".join(f"-p {p}" for p in params)
        ctx.say(f"{policy.ref}: training {policy.pipeline} {shown}".rstrip())


def _wait(ctx: AgentContext) -> None:
    ctx.check_lease()
    if ctx.stop.wait(ctx.poll_s):
        raise Stopped
    for training in ctx.trainings.values():
        training.exit_code()  # reaps a process that ended


def _trained(ctx: AgentContext, policy: RetrainingPolicy, decision: Decision, run: Run) -> Decision:
    ctx.trainings.pop(decision.id, None)
    if run.status is not RunStatus.FINISHED:
        reason = run.tags.get(ERROR_TAG) or _failed_steps(run)
        return _fail(ctx, decision, f"pipeline run {run.id} ended {run.status}: {reason}")
    candidate = find_candidate(ctx.client, policy.model, run)
    if candidate is None:
        return ctx.move(decision, DecisionUpdate(
            S.TRAINING, S.FAILED, pipeline_run_id=run.id,
            error=f"pipeline run {run.id} registered no version of {policy.model} (a step "
            f"registers it: loopml.models.register({policy.model!r}, model, run=loopml.active_run()"
            ", ...))",
        ))  # fmt: skip
    return ctx.move(
        decision,
        DecisionUpdate(
            S.TRAINING,
            S.TRAINED,
            pipeline_run_id=run.id,
            candidate_version=candidate.version,
            action=f"trained {candidate.model}@{candidate.version}",
        ),
    )


def _failed_steps(run: Run) -> str:
    return f"its steps' logs: loopml runs show {run.id[:8]}"


def find_candidate(client: Client, model: str, run: Run) -> ModelVersion | None:
    """The newest version of ``model`` registered by ``run`` or a run nested in it."""
    try:
        versions = client.metadata.list_model_versions(model)
    except NotFoundError:
        return None
    parents: dict[str, str | None] = {}
    for version in reversed(versions):
        if version.run_id is None or version.created_at < run.start_time:
            continue
        current: str | None = version.run_id
        for _ in range(_RUN_DEPTH):
            if current == run.id:
                return version
            if current is None:
                break
            if current not in parents:
                try:
                    parents[current] = client.get_run(current).parent_run_id
                except NotFoundError:
                    parents[current] = None
            current = parents[current]
    return None


# gate and promotion ------------------------------------------------------------------------


def _candidate_ref(decision: Decision) -> str:
    return f"{decision.model}@{decision.candidate_version}"


def _gate(ctx: AgentContext, policy: RetrainingPolicy, decision: Decision) -> Decision:
    if policy.gate is None:
        return ctx.move(decision, DecisionUpdate(S.TRAINED, S.GATED, action="no gate policy"))
    result = gate(_candidate_ref(decision), read_policy(policy.gate), client=ctx.client)
    failed = [str(check["name"]) for check in result.checks if not check["passed"]]
    action = "gate passed" if result.passed else f"gate failed: {', '.join(failed)}"
    return ctx.move(
        decision,
        DecisionUpdate(S.TRAINED, S.GATED, gate_result_id=result.id, action=action[:MAX_TEXT]),
    )


def _gate_passed(ctx: AgentContext, decision: Decision) -> bool:
    if decision.gate_result_id is None:
        return True
    version = decision.candidate_version
    results = ctx.client.metadata.list_gate_results(decision.model, version)
    return any(r.id == decision.gate_result_id and r.passed for r in results)


def _after_gate(ctx: AgentContext, policy: RetrainingPolicy, decision: Decision) -> Decision:
    if not _gate_passed(ctx, decision):
        action = f"rejected {_candidate_ref(decision)}: {decision.action or 'its gate failed'}"
        return ctx.move(decision, DecisionUpdate(S.GATED, S.REJECTED, action=action[:MAX_TEXT]))
    if policy.promotion is PromotionMode.APPROVAL and not _approved(ctx, decision):
        return _hold(ctx, decision, S.GATED)
    return _promote(ctx, policy, decision, S.GATED)


def _held(ctx: AgentContext, policy: RetrainingPolicy, decision: Decision) -> Decision:
    if _alias_names(ctx, decision) or _approved(ctx, decision):
        return _promote(ctx, policy, decision, S.HELD)
    return decision  # still waiting for `loopml models approve`


def _hold(ctx: AgentContext, decision: Decision, expected: DecisionState) -> Decision:
    action = f"held for approval: loopml models approve {_candidate_ref(decision)}"
    return ctx.move(decision, DecisionUpdate(expected, S.HELD, action=action))


def _approved(ctx: AgentContext, decision: Decision) -> bool:
    version = decision.candidate_version
    return bool(ctx.client.metadata.list_model_approvals(decision.model, version))


def _alias_names(ctx: AgentContext, decision: Decision) -> bool:
    try:
        current = ctx.client.metadata.get_model_alias(decision.model, decision.alias)
    except NotFoundError:
        return False
    return current == decision.candidate_version


def _promote(
    ctx: AgentContext, policy: RetrainingPolicy, decision: Decision, expected: DecisionState
) -> Decision:
    ref, alias = _candidate_ref(decision), decision.alias
    if not _alias_names(ctx, decision):  # moved before a crash: not moved again
        ctx.check_lease()
        try:
            promote(
                ref,
                alias=alias,
                reason=f"loopml agent: {decision.trigger} (decision {decision.id})",
                policy=policy.gate,
                client=ctx.client,
            )
        except PromotionBlockedError as exc:
            if expected is S.HELD:
                return decision
            held = _hold(ctx, decision, expected)
            ctx.say(f"{policy.ref}: {exc.message}")
            return held
    action = f"promoted {ref} to {alias}"
    if decision.champion_version is not None:
        action += f" (was version {decision.champion_version})"
    return ctx.move(decision, DecisionUpdate(expected, S.PROMOTED, action=action))
