"""One tick of the agent: a pass over every model of the project's ``retraining:`` policy, then
its alert rules. Per model, in this order:

1. resume the decisions left open (by a crash, a kill -9, a SIGTERM, a held approval);
2. gather what the loop knows (the champion's newest complete windows, its recent decisions,
   the newest version of the policy's dataset and the one the champion was trained on),
   ``decide_retraining``, record the trigger (its key makes it idempotent) and carry it out;
3. the rollback guard, when the champion was moved to within the guard's ``watch``.

Then the alert rules are judged on the newest complete windows of the models they watch and
the firings' actions run. A failure for one model is reported and the others go on; a lost
lease stops the tick at once (LeaseLostError).

>>> report = tick_once(client, Path("."), lease=lease)  # doctest: +SKIP
>>> report.to_dict()["models"][0]["decided"]  # doctest: +SKIP
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from loopml.core.errors import LeaseLostError, LoopMLError, NotFoundError
from loopml.core.ids import now_ms as clock_ms
from loopml.core.loop_records import (
    OPEN_DECISION_STATES,
    Decision,
    DecisionState,
    Lease,
    TriggerKind,
)
from loopml.loop.agent_actions import TRAINING_TTL_MS, AgentContext, carry_forward
from loopml.loop.agent_guard import GuardResult, guard_champion, resume_rollback
from loopml.loop.agent_signals import WindowReader
from loopml.loop.alert_actions import fire
from loopml.loop.alert_rules import read_alert_rules
from loopml.loop.alerts import AlertState, SignalWindow, evaluate
from loopml.loop.decide import Situation, Trigger, decide_retraining
from loopml.loop.policy import RetrainingPolicy, load_loop_policy
from loopml.tracking.client import Client

__all__ = ["ALERT_STATE", "ModelTick", "TickReport", "default_holder", "tick_once"]

Progress = Callable[[str], None]
RECENT_DECISIONS = 100
ALERT_STATE = "agent:alert-state"  # the alert rules' cooldowns, a loop state in the store


def default_holder() -> str:
    """``host:pid``: who holds the agent's lease, as ``loopml loop log`` and the store show."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class ModelTick:
    """What one tick did for one ``model@alias``."""

    model: str
    resumed: list[dict[str, Any]] = field(default_factory=list)  # decisions carried on
    decided: dict[str, Any] | None = None  # the decision recorded this tick
    rollback: dict[str, Any] | None = None  # the guard's verdict (and decision)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "resumed": self.resumed,
            "decided": self.decided,
            "rollback": self.rollback,
            "error": self.error,
        }


@dataclass
class TickReport:
    """What one tick did: per model, and the alerts it fired."""

    now_ms: int
    models: list[ModelTick] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    alert_error: str | None = None
    stopped: bool = False  # asked to stop before it finished

    @property
    def errors(self) -> dict[str, str]:
        found = {m.model: m.error for m in self.models if m.error is not None}
        if self.alert_error is not None:
            found["alerts"] = self.alert_error
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "now_ms": self.now_ms,
            "models": [m.to_dict() for m in self.models],
            "alerts": self.alerts,
            "errors": self.errors,
            "stopped": self.stopped,
        }


def tick_once(
    client: Client,
    project: Path,
    *,
    lease: Lease | None,
    now_ms: int | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    holder: str | None = None,
    training_ttl_ms: int = TRAINING_TTL_MS,
    context: AgentContext | None = None,
) -> TickReport:
    """One pass over the project's retraining policy and alert rules (see the module)."""
    now = now_ms if now_ms is not None else clock_ms()
    ctx = context or AgentContext(
        client=client,
        project=project,
        lease=lease,
        holder=holder or (lease.holder if lease is not None else default_holder()),
        training_ttl_ms=training_ttl_ms,
        stop=stop or threading.Event(),
        say=progress or (lambda line: None),
    )
    report = TickReport(now)
    reader = WindowReader(client, now)
    for policy in load_loop_policy(project).retraining:
        if ctx.stop.is_set():
            report.stopped = True
            return report
        tick = ModelTick(policy.ref)
        report.models.append(tick)
        try:
            _tick_model(ctx, policy, reader, now, tick)
        except LeaseLostError:
            raise
        except Exception as exc:  # reported; the other models go on
            tick.error = (
                exc.message if isinstance(exc, LoopMLError) else f"{type(exc).__name__}: {exc}"
            )
            ctx.say(f"{policy.ref}: error: {tick.error}")
    report.stopped = ctx.stop.is_set()
    if not report.stopped:
        _alerts(ctx, reader, now, report)
    return report


def _tick_model(
    ctx: AgentContext, policy: RetrainingPolicy, reader: WindowReader, now: int, tick: ModelTick
) -> None:
    open_ones = ctx.client.loop.list_decisions(
        model=policy.model, states=tuple(OPEN_DECISION_STATES)
    ).items
    for decision in sorted(open_ones, key=lambda d: d.created_at):  # 1. resume
        if decision.alias != policy.alias:
            continue
        before = decision.state
        if decision.trigger is TriggerKind.ROLLBACK_GUARD:
            after = resume_rollback(ctx, decision)
        else:
            after = carry_forward(ctx, policy, decision)
        if after.state is not before:
            tick.resumed.append(_moved(after, before))
        if ctx.stop.is_set():
            return
    trigger = decide_retraining(policy, _situation(ctx, policy, reader, now))  # 2. decide
    if trigger is not None:
        champion = _champion_version(ctx, policy)
        ctx.check_lease()
        decision = ctx.client.loop.record_decision(
            _with_feedback(ctx, policy, trigger, now).new_decision(policy, champion),
            lease=ctx.lease,
        )
        ctx.say(f"{policy.ref}: {decision.trigger} triggered decision {decision.id[:8]}")
        before = decision.state
        tick.decided = _moved(carry_forward(ctx, policy, decision), before)
        if ctx.stop.is_set():
            return
    guarded: GuardResult | None = guard_champion(ctx, policy, reader, now)  # 3. guard
    if guarded is not None:
        tick.rollback = guarded.to_dict()


def _with_feedback(
    ctx: AgentContext, policy: RetrainingPolicy, trigger: Trigger, now: int
) -> Trigger:
    """``trigger``, training on the champion's labelled predictions too when the policy asks
    for them (``feedback:``): they become the dataset's next version (the same rows again
    make none), and the decision's evidence names that version. No labels yet: unchanged."""
    feedback = policy.feedback
    if feedback is None or policy.dataset is None:
        return trigger
    from loopml.monitoring.labelled_data import materialize_feedback

    try:
        export = materialize_feedback(
            ctx.client,
            policy.ref,
            dataset=policy.dataset,
            since_ms=feedback.since(now),
            target=feedback.target,
            append_to="latest" if feedback.append else None,
        )
    except NotFoundError:  # no logged predictions or no feedback yet
        return trigger
    evidence = {
        **trigger.evidence,
        "dataset": policy.dataset,
        "data_version": export.version.version,
        "feedback_rows": export.rows,
    }
    if export.created:
        made = f"{policy.dataset}@{export.version.version}"
        ctx.say(f"{policy.ref}: {export.rows} labelled predictions became {made}")
    return replace(trigger, evidence=evidence)


def _moved(decision: Decision, before: DecisionState) -> dict[str, Any]:
    return {
        "id": decision.id,
        "trigger": str(decision.trigger),
        "from": str(before),
        "state": str(decision.state),
        "pipeline_run_id": decision.pipeline_run_id,
        "candidate_version": decision.candidate_version,
        "action": decision.action,
        "error": decision.error,
        "evidence": decision.evidence,
    }


def _champion_version(ctx: AgentContext, policy: RetrainingPolicy) -> int | None:
    try:
        return ctx.client.metadata.get_model_alias(policy.model, policy.alias)
    except NotFoundError:
        return None


def _situation(
    ctx: AgentContext, policy: RetrainingPolicy, reader: WindowReader, now: int
) -> Situation:
    client = ctx.client
    champion = _champion_version(ctx, policy)
    version = None
    if champion is not None:
        version = client.metadata.get_model_version(policy.model, champion)
    windows = {}
    if champion is not None:
        for length in sorted(policy.window_lengths()):
            window = reader.newest_complete(policy.ref, length, f"{policy.model}@{champion}")
            if window is not None:
                windows[length] = window
    decisions = client.loop.list_decisions(model=policy.model, max_results=RECENT_DECISIONS)
    dataset = policy.new_data.dataset if policy.new_data is not None else policy.dataset
    newest = trained_on = None
    if dataset is not None:
        try:
            newest = client.metadata.get_dataset_version(dataset).version
        except NotFoundError:
            newest = None
        for ref in version.datasets if version is not None else ():
            name, _, number = ref.rpartition("@")
            if name == dataset and number.isdigit():
                trained_on = max(int(number), trained_on or 0)
    return Situation(
        now_ms=now,
        windows=windows,
        decisions=[d for d in decisions.items if d.alias == policy.alias],
        newest_data_version=newest,
        champion_data_version=trained_on,
        baseline=dict(version.metrics) if version is not None else {},
    )


def _alerts(ctx: AgentContext, reader: WindowReader, now: int, report: TickReport) -> None:
    """Judge the rules, fire, then store the cooldowns: a crash in between fires a rule again
    at the next tick (with the same delivery id, for the same window), never loses one."""
    try:
        rules = read_alert_rules(ctx.project)
        if not rules:
            return
        stored = ctx.client.loop.get_loop_state(ALERT_STATE)
        state = AlertState.from_dict(stored or {})
        windows = []
        for ref, length in sorted({(_alert_ref(r.model), r.window_ms) for r in rules}):
            window = reader.newest_complete(ref, length, None)
            if window is not None:
                windows.append(SignalWindow(ref, window.start_ms, window.end_ms, window.signals))
        evaluation = evaluate(rules, windows, state, now_ms=now)
        for firing in evaluation.firings:
            ctx.check_lease()
            outcomes = fire(firing, project=ctx.project, client=ctx.client)
            ctx.say(f"{firing.model}: alert {firing.rule.name} fired ({firing.value:g})")
            report.alerts.append(
                {**firing.to_dict(), "actions": [outcome.to_dict() for outcome in outcomes]}
            )
        if evaluation.firings:
            ctx.client.loop.put_loop_state(ALERT_STATE, evaluation.state.to_dict(), lease=ctx.lease)
    except LeaseLostError:
        raise
    except Exception as exc:  # reported; the models' work stands
        report.alert_error = (
            exc.message if isinstance(exc, LoopMLError) else f"{type(exc).__name__}: {exc}"
        )
        ctx.say(f"alerts: error: {report.alert_error}")


def _alert_ref(model: str) -> str:
    return model if "@" in model else f"{model}@champion"
