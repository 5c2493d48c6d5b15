"""What the loop should do now, as pure functions of what it knows (no I/O, no clock): the
agent gathers the champion's windows, its recent decisions and the newest data version, and
calls :func:`decide_retraining`; after a promotion it calls :func:`judge_rollback` each tick.

The same situation always gives the same idempotency key, so a restarted agent (or a second
one) recording it gets the decision already stored instead of a second retraining.

>>> trigger = decide_retraining(policy, situation)  # doctest: +SKIP
>>> trigger and client.loop.record_decision(trigger.new_decision(policy, 7), lease=lease)
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loopml.core.loop_records import Decision, NewDecision, TriggerKind
from loopml.loop.policy import (
    LABELLED_METRICS,
    LOWER_IS_BETTER,
    DecayTrigger,
    DriftTrigger,
    RetrainingPolicy,
    RollbackGuard,
)

__all__ = [
    "RollbackAction",
    "RollbackVerdict",
    "Situation",
    "Trigger",
    "Window",
    "decide_retraining",
    "judge_rollback",
    "retraining_key",
    "rollback_key",
]

RETRAINING_TRIGGERS = frozenset(
    {
        TriggerKind.DRIFT,
        TriggerKind.DECAY,
        TriggerKind.SCHEDULE,
        TriggerKind.NEW_DATA,
        TriggerKind.MANUAL,
    }
)


@dataclass(frozen=True, slots=True)
class Window:
    """One monitoring window of a model version, ``[start_ms, end_ms)``: its signals by name
    (``traffic``, ``drift_share``, ``accuracy``, … as ``loopml monitor report`` names them;
    a missing or None signal was not measured) and how many predictions had labels."""

    start_ms: int
    end_ms: int
    signals: Mapping[str, float | None]
    labels: int = 0

    @property
    def traffic(self) -> int:
        return int(self.signals.get("traffic") or 0)

    def samples_for(self, metric: str) -> int:
        """The predictions ``metric`` stands on: labelled ones for realised performance."""
        return self.labels if metric in LABELLED_METRICS else self.traffic


@dataclass(frozen=True, slots=True)
class Situation:
    """What the agent knows about one ``model@alias`` at ``now_ms`` (store clock)."""

    now_ms: int
    windows: Mapping[int, Window]  # the champion's latest complete window, by length (ms)
    decisions: Sequence[Decision] = ()  # this model@alias's recent decisions, any order
    newest_data_version: int | None = None  # of the policy's (new_data) dataset
    champion_data_version: int | None = None  # what the champion was trained on (lineage)
    baseline: Mapping[str, float] = field(default_factory=dict)  # reference values for `drop`


@dataclass(frozen=True, slots=True)
class Trigger:
    """A retraining to start: why (``kind`` and the numbers) and its idempotency ``key``."""

    kind: TriggerKind
    key: str
    evidence: dict[str, Any]

    def new_decision(self, policy: RetrainingPolicy, champion_version: int | None) -> NewDecision:
        return NewDecision(
            key=self.key,
            model=policy.model,
            alias=policy.alias,
            trigger=self.kind,
            evidence=self.evidence,
            champion_version=champion_version,
        )


def retraining_key(policy: RetrainingPolicy, kind: TriggerKind, fingerprint: str) -> str:
    """``retrain:churn@champion:drift:1733565600000``: one decision per situation."""
    return f"retrain:{policy.ref}:{kind}:{fingerprint}"


def decide_retraining(policy: RetrainingPolicy, situation: Situation) -> Trigger | None:
    """The retraining to start now, or None: none while one is still open or within the
    cooldown after the last one (failed ones too); otherwise the first trigger that fires, in
    the order decay, drift, new data, schedule."""
    retrainings = [d for d in situation.decisions if d.trigger in RETRAINING_TRIGGERS]
    if any(d.state.is_open for d in retrainings):
        return None
    last = max((d.created_at for d in retrainings), default=None)
    if last is not None and situation.now_ms - last < policy.cooldown_ms:
        return None
    data = _data_evidence(policy, situation)
    for check in (_decay, _drift, _new_data, _schedule):
        fired = check(policy, situation, retrainings)
        if fired is not None:
            kind, fingerprint, evidence = fired
            return Trigger(kind, retraining_key(policy, kind, fingerprint), {**evidence, **data})
    return None


_Fired = tuple[TriggerKind, str, dict[str, Any]] | None


def _data_evidence(policy: RetrainingPolicy, situation: Situation) -> dict[str, Any]:
    dataset = policy.dataset or (policy.new_data.dataset if policy.new_data else None)
    if dataset is None or situation.newest_data_version is None:
        return {}
    return {"dataset": dataset, "data_version": situation.newest_data_version}


def _window_evidence(window: Window) -> dict[str, Any]:
    return {"window_start": window.start_ms, "window_end": window.end_ms}


def _decay(policy: RetrainingPolicy, situation: Situation, _: list[Decision]) -> _Fired:
    rule: DecayTrigger | None = policy.decay
    if rule is None:
        return None
    window = situation.windows.get(rule.window_ms)
    value = None if window is None else window.signals.get(rule.metric)
    if window is None or value is None:
        return None
    samples = window.samples_for(rule.metric)
    if rule.metric in LABELLED_METRICS and samples < rule.min_labels:
        return None
    evidence: dict[str, Any] = {
        "metric": rule.metric,
        "value": value,
        "samples": samples,
        **_window_evidence(window),
    }
    if rule.below is not None and value < rule.below:
        evidence["below"] = rule.below
    elif rule.above is not None and value > rule.above:
        evidence["above"] = rule.above
    elif rule.drop is not None and rule.metric in situation.baseline:
        baseline = situation.baseline[rule.metric]
        worse = value - baseline if rule.metric in LOWER_IS_BETTER else baseline - value
        if worse < rule.drop:
            return None
        evidence.update(baseline=baseline, drop=rule.drop, worse_by=worse)
    else:
        return None
    return TriggerKind.DECAY, str(window.end_ms), evidence


def _drift(policy: RetrainingPolicy, situation: Situation, _: list[Decision]) -> _Fired:
    rule: DriftTrigger | None = policy.drift
    window = None if rule is None else situation.windows.get(rule.window_ms)
    if rule is None or window is None or window.traffic < rule.min_samples:
        return None
    for signal, threshold in (
        ("drift_share", rule.drift_share),
        ("prediction_drift", rule.prediction_drift),
    ):
        value = window.signals.get(signal)
        if threshold is not None and value is not None and value >= threshold:
            evidence = {
                "signal": signal,
                "value": value,
                "threshold": threshold,
                "samples": window.traffic,
                **_window_evidence(window),
            }
            return TriggerKind.DRIFT, str(window.end_ms), evidence
    return None


def _new_data(policy: RetrainingPolicy, situation: Situation, past: list[Decision]) -> _Fired:
    rule, newest = policy.new_data, situation.newest_data_version
    if rule is None or newest is None:
        return None
    used = [
        d.evidence.get("data_version")
        for d in past
        if d.evidence.get("dataset") == rule.dataset
        and isinstance(d.evidence.get("data_version"), int)
    ]
    known = [v for v in (*used, situation.champion_data_version) if isinstance(v, int)]
    last = max(known, default=None)
    if last is not None and newest <= last:
        return None
    evidence = {"dataset": rule.dataset, "newest_version": newest, "trained_on": last}
    return TriggerKind.NEW_DATA, f"{rule.dataset}@{newest}", evidence


def _schedule(policy: RetrainingPolicy, situation: Situation, past: list[Decision]) -> _Fired:
    rule = policy.schedule
    if rule is None:
        return None
    period_start = situation.now_ms - situation.now_ms % rule.every_ms
    if any(d.created_at >= period_start for d in past):
        return None  # this period's retraining happened (whatever triggered it)
    evidence = {"every_ms": rule.every_ms, "period_start": period_start}
    return TriggerKind.SCHEDULE, str(period_start), evidence


# the rollback guard -----------------------------------------------------------------------


class RollbackAction(enum.StrEnum):
    ROLL_BACK = "roll_back"  # move the alias back to the previous champion now
    WATCH = "watch"  # not worse (or too few samples yet): keep watching
    KEEP = "keep"  # the watch is over: the new champion stays


@dataclass(frozen=True, slots=True)
class RollbackVerdict:
    action: RollbackAction
    reason: str
    evidence: dict[str, Any]
    key: str  # the idempotency key of the rollback decision, if there is one


def rollback_key(policy: RetrainingPolicy, version: int, promoted_at: int) -> str:
    """``rollback:churn@champion:8:1733565600000``: at most one rollback per promotion."""
    return f"rollback:{policy.ref}:{version}:{promoted_at}"


def judge_rollback(
    policy: RetrainingPolicy,
    *,
    version: int,
    previous_version: int,
    promoted_at: int,
    now_ms: int,
    new: Window | None,
    previous: Window | None,
) -> RollbackVerdict:
    """Compare the new champion's window since its promotion (``new``) with the previous
    champion's before it (``previous``) under ``policy.rollback_guard``: roll back when the new
    one is worse by ``margin`` or more and both stand on at least ``min_samples`` predictions —
    never on fewer. Past ``watch`` after the promotion the new champion is kept."""
    key = rollback_key(policy, version, promoted_at)
    guard: RollbackGuard | None = policy.rollback_guard
    if guard is None:
        return RollbackVerdict(RollbackAction.KEEP, f"{policy.ref} has no rollback guard", {}, key)
    evidence: dict[str, Any] = {
        "metric": guard.metric,
        "margin": guard.margin,
        "min_samples": guard.min_samples,
        "version": version,
        "previous_version": previous_version,
        "promoted_at": promoted_at,
    }
    over = now_ms - promoted_at >= guard.watch_ms
    settled = RollbackAction.KEEP if over else RollbackAction.WATCH
    values = [None if w is None else w.signals.get(guard.metric) for w in (new, previous)]
    samples = [0 if w is None else w.samples_for(guard.metric) for w in (new, previous)]
    evidence.update(
        value=values[0], previous_value=values[1], samples=samples[0], previous_samples=samples[1]
    )
    if values[0] is None or values[1] is None:
        return RollbackVerdict(settled, f"{guard.metric} is not measured on both", evidence, key)
    if min(samples) < guard.min_samples:
        reason = f"too few samples ({min(samples)} < {guard.min_samples}) to compare"
        return RollbackVerdict(settled, reason, evidence, key)
    new_value, old_value = float(values[0]), float(values[1])
    lower_better = guard.metric in LOWER_IS_BETTER
    worse = new_value - old_value if lower_better else old_value - new_value
    evidence["worse_by"] = worse
    if worse >= guard.margin:
        reason = (
            f"{guard.metric} {new_value:g} is worse than the previous champion's {old_value:g} "
            f"by {worse:g} >= {guard.margin:g}"
        )
        return RollbackVerdict(RollbackAction.ROLL_BACK, reason, evidence, key)
    return RollbackVerdict(
        settled, f"{guard.metric} is not worse by {guard.margin:g}", evidence, key
    )
