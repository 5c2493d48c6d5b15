"""The loop's pure decisions: each trigger fires at its threshold and not before, the same
situation gives the same key, one retraining at a time, the cooldown holds (after a failed
retraining too), and the rollback guard never acts on too few samples."""

from __future__ import annotations

from dataclasses import replace

import pytest

from loopml.core.loop_records import Decision, DecisionState, TriggerKind
from loopml.loop.decide import (
    RollbackAction,
    Situation,
    Window,
    decide_retraining,
    judge_rollback,
)
from loopml.loop.policy import (
    DecayTrigger,
    DriftTrigger,
    NewDataTrigger,
    RetrainingPolicy,
    RollbackGuard,
    ScheduleTrigger,
)

HOUR = 3_600_000
DAY = 24 * HOUR
NOW = 1_000 * DAY + 5 * HOUR  # 05:00 UTC on some day
POLICY = RetrainingPolicy(
    model="churn",
    alias="champion",
    pipeline="train-churn",
    source="loopml.yaml:2:5",
    dataset="churn-data",
    data_param="data",
    cooldown_ms=6 * HOUR,
)


def _window(labels: int = 500, **signals: float | None) -> Window:
    return Window(NOW - HOUR, NOW, {"traffic": 1000, **signals}, labels=labels)


def _situation(*decisions: Decision, **fields: object) -> Situation:
    values: dict[str, object] = {"now_ms": NOW, "windows": {}, "decisions": decisions, **fields}
    return Situation(**values)  # type: ignore[arg-type]


def _decision(
    created_at: int,
    state: DecisionState = DecisionState.PROMOTED,
    trigger: TriggerKind = TriggerKind.DRIFT,
    evidence: dict[str, object] | None = None,
) -> Decision:
    return Decision(
        id=f"d{created_at}",
        key=f"k{created_at}",
        model="churn",
        alias="champion",
        trigger=trigger,
        evidence=evidence or {},
        state=state,
        created_at=created_at,
        updated_at=created_at,
    )


# drift -------------------------------------------------------------------------------------

DRIFT = replace(POLICY, drift=DriftTrigger(HOUR, drift_share=0.25, min_samples=1000))


@pytest.mark.parametrize(("share", "fires"), [(0.25, True), (0.2499, False), (0.9, True)])
def test_drift_fires_at_or_above_its_share(share: float, fires: bool) -> None:
    trigger = decide_retraining(DRIFT, _situation(windows={HOUR: _window(drift_share=share)}))
    assert (trigger is not None) is fires
    if trigger is not None:
        assert trigger.kind is TriggerKind.DRIFT
        assert trigger.key == f"retrain:churn@champion:drift:{NOW}"
        assert trigger.evidence["value"] == share and trigger.evidence["threshold"] == 0.25
        assert trigger.evidence["samples"] == 1000 and trigger.evidence["window_end"] == NOW


def test_drift_needs_its_samples_and_its_own_window_length() -> None:
    few = Window(NOW - HOUR, NOW, {"traffic": 999, "drift_share": 0.9})
    assert decide_retraining(DRIFT, _situation(windows={HOUR: few})) is None
    other_length = {2 * HOUR: _window(drift_share=0.9)}
    assert decide_retraining(DRIFT, _situation(windows=other_length)) is None
    unmeasured = {HOUR: _window(drift_share=None)}
    assert decide_retraining(DRIFT, _situation(windows=unmeasured)) is None


def test_the_same_situation_gives_the_same_key_and_the_next_window_another() -> None:
    windows = {HOUR: _window(drift_share=0.5)}
    first = decide_retraining(DRIFT, _situation(windows=windows))
    again = decide_retraining(DRIFT, _situation(windows=windows))
    later = Window(NOW, NOW + HOUR, {"traffic": 1000, "drift_share": 0.5})
    next_window = decide_retraining(
        DRIFT, replace(_situation(windows={HOUR: later}), now_ms=NOW + HOUR)
    )
    assert first is not None and again is not None and next_window is not None
    assert first == again and first.key != next_window.key


def test_the_data_version_trained_on_goes_into_the_evidence() -> None:
    trigger = decide_retraining(
        DRIFT, _situation(windows={HOUR: _window(drift_share=0.5)}, newest_data_version=7)
    )
    assert trigger is not None
    assert (trigger.evidence["dataset"], trigger.evidence["data_version"]) == ("churn-data", 7)
    new = trigger.new_decision(DRIFT, champion_version=3)
    assert (new.key, new.model, new.alias, new.champion_version) == (
        trigger.key,
        "churn",
        "champion",
        3,
    )


# decay -------------------------------------------------------------------------------------

BELOW = replace(POLICY, decay=DecayTrigger("accuracy", HOUR, below=0.75, min_labels=200))


@pytest.mark.parametrize(("accuracy", "fires"), [(0.75, False), (0.7499, True)])
def test_decay_fires_strictly_below_its_floor(accuracy: float, fires: bool) -> None:
    trigger = decide_retraining(BELOW, _situation(windows={HOUR: _window(accuracy=accuracy)}))
    assert (trigger is not None) is fires
    if trigger is not None:
        assert trigger.kind is TriggerKind.DECAY and trigger.evidence["below"] == 0.75


@pytest.mark.parametrize(("labels", "fires"), [(199, False), (200, True)])
def test_decay_of_a_labelled_metric_needs_min_labels(labels: int, fires: bool) -> None:
    situation = _situation(windows={HOUR: _window(labels=labels, accuracy=0.5)})
    assert (decide_retraining(BELOW, situation) is not None) is fires


def test_an_estimated_metric_decays_without_labels() -> None:
    policy = replace(POLICY, decay=DecayTrigger("estimated_accuracy", HOUR, below=0.75))
    situation = _situation(windows={HOUR: _window(labels=0, estimated_accuracy=0.6)})
    assert decide_retraining(policy, situation) is not None


def test_the_error_stream_detector_firing_is_decay() -> None:
    policy = replace(POLICY, decay=DecayTrigger("concept_drift", HOUR, above=0.5))
    quiet, fired = _window(concept_drift=0.0), _window(concept_drift=1.0)
    assert decide_retraining(policy, _situation(windows={HOUR: quiet})) is None
    trigger = decide_retraining(policy, _situation(windows={HOUR: fired}))
    assert trigger is not None and trigger.evidence["metric"] == "concept_drift"


def test_an_error_metric_decays_above_its_ceiling() -> None:
    policy = replace(POLICY, decay=DecayTrigger("rmse", HOUR, above=2.0))
    assert decide_retraining(policy, _situation(windows={HOUR: _window(rmse=2.0)})) is None
    assert decide_retraining(policy, _situation(windows={HOUR: _window(rmse=2.5)})) is not None


@pytest.mark.parametrize(("accuracy", "fires"), [(0.75, True), (0.8125, False)])
def test_a_drop_is_measured_from_the_baseline(accuracy: float, fires: bool) -> None:
    policy = replace(POLICY, decay=DecayTrigger("accuracy", HOUR, drop=0.125))
    windows = {HOUR: _window(accuracy=accuracy)}
    trigger = decide_retraining(policy, _situation(windows=windows, baseline={"accuracy": 0.875}))
    assert (trigger is not None) is fires
    if trigger is not None:
        assert trigger.evidence["worse_by"] == 0.125 and trigger.evidence["baseline"] == 0.875
    assert decide_retraining(policy, _situation(windows=windows)) is None  # no baseline known


# new data and schedule ---------------------------------------------------------------------

NEW_DATA = replace(POLICY, new_data=NewDataTrigger("churn-data"))


def test_new_data_fires_for_a_version_newer_than_any_trained_on() -> None:
    assert (
        decide_retraining(NEW_DATA, _situation(newest_data_version=4, champion_data_version=4))
        is None
    )
    trigger = decide_retraining(
        NEW_DATA, _situation(newest_data_version=5, champion_data_version=4)
    )
    assert trigger is not None and trigger.key == "retrain:churn@champion:new_data:churn-data@5"
    assert trigger.evidence["trained_on"] == 4
    used = _decision(NOW - DAY, evidence={"dataset": "churn-data", "data_version": 5})
    assert (
        decide_retraining(
            NEW_DATA, _situation(used, newest_data_version=5, champion_data_version=4)
        )
        is None
    )


SCHEDULE = replace(POLICY, schedule=ScheduleTrigger(DAY))


def test_the_schedule_fires_once_per_period() -> None:
    period_start = NOW - NOW % DAY
    trigger = decide_retraining(SCHEDULE, _situation())
    assert trigger is not None and trigger.key == f"retrain:churn@champion:schedule:{period_start}"
    done_today = _decision(period_start, state=DecisionState.PROMOTED)
    assert decide_retraining(replace(SCHEDULE, cooldown_ms=0), _situation(done_today)) is None
    yesterday = _decision(period_start - 1)
    assert decide_retraining(replace(SCHEDULE, cooldown_ms=0), _situation(yesterday)) is not None


# one at a time, and the cooldown -----------------------------------------------------------


def test_no_retraining_while_one_is_open() -> None:
    windows = {HOUR: _window(drift_share=0.9)}
    for state in (DecisionState.TRIGGERED, DecisionState.TRAINING, DecisionState.HELD):
        open_one = _decision(NOW - DAY, state=state)
        assert decide_retraining(DRIFT, _situation(open_one, windows=windows)) is None


@pytest.mark.parametrize(
    ("age", "state", "fires"),
    [
        (6 * HOUR - 1, DecisionState.PROMOTED, False),
        (6 * HOUR - 1, DecisionState.FAILED, False),  # a failing pipeline is not hammered
        (6 * HOUR, DecisionState.FAILED, True),
        (6 * HOUR, DecisionState.REJECTED, True),
    ],
)
def test_the_cooldown_counts_from_the_last_retraining(
    age: int, state: DecisionState, fires: bool
) -> None:
    last = _decision(NOW - age, state=state)
    situation = _situation(last, windows={HOUR: _window(drift_share=0.9)})
    assert (decide_retraining(DRIFT, situation) is not None) is fires


def test_a_rollback_is_not_a_retraining_for_the_cooldown() -> None:
    rollback = _decision(
        NOW - 1, state=DecisionState.ROLLED_BACK, trigger=TriggerKind.ROLLBACK_GUARD
    )
    situation = _situation(rollback, windows={HOUR: _window(drift_share=0.9)})
    assert decide_retraining(DRIFT, situation) is not None


def test_decay_comes_before_drift() -> None:
    both = replace(DRIFT, decay=BELOW.decay)
    windows = {HOUR: _window(drift_share=0.9, accuracy=0.5)}
    trigger = decide_retraining(both, _situation(windows=windows))
    assert trigger is not None and trigger.kind is TriggerKind.DECAY


# the rollback guard ------------------------------------------------------------------------

GUARDED = replace(
    POLICY, rollback_guard=RollbackGuard("accuracy", 0.125, 2 * HOUR, min_samples=200)
)
PROMOTED_AT = NOW - HOUR


def _judge(
    new: Window | None, previous: Window | None, now: int = NOW, policy: RetrainingPolicy = GUARDED
):
    return judge_rollback(
        policy,
        version=8,
        previous_version=7,
        promoted_at=PROMOTED_AT,
        now_ms=now,
        new=new,
        previous=previous,
    )


@pytest.mark.parametrize(
    ("new_accuracy", "action"),
    [
        (0.75, RollbackAction.ROLL_BACK),
        (0.7500001, RollbackAction.WATCH),
        (0.9, RollbackAction.WATCH),
    ],
)
def test_the_guard_rolls_back_at_its_margin(new_accuracy: float, action: RollbackAction) -> None:
    verdict = _judge(_window(accuracy=new_accuracy), _window(accuracy=0.875))
    assert verdict.action is action
    assert verdict.key == f"rollback:churn@champion:8:{PROMOTED_AT}"
    assert verdict.evidence["previous_value"] == 0.875 and verdict.evidence["version"] == 8


@pytest.mark.parametrize(("labels", "previous_labels"), [(199, 500), (500, 199)])
def test_the_guard_never_rolls_back_on_too_few_samples(labels: int, previous_labels: int) -> None:
    verdict = _judge(
        _window(labels=labels, accuracy=0.1), _window(labels=previous_labels, accuracy=0.9)
    )
    assert verdict.action is RollbackAction.WATCH and "too few samples" in verdict.reason
    after_watch = _judge(
        _window(labels=labels, accuracy=0.1),
        _window(labels=previous_labels, accuracy=0.9),
        now=PROMOTED_AT + 2 * HOUR,
    )
    assert after_watch.action is RollbackAction.KEEP


def test_the_guard_keeps_the_champion_once_the_watch_is_over() -> None:
    fine = (_window(accuracy=0.9), _window(accuracy=0.875))
    assert _judge(*fine, now=PROMOTED_AT + 2 * HOUR - 1).action is RollbackAction.WATCH
    assert _judge(*fine, now=PROMOTED_AT + 2 * HOUR).action is RollbackAction.KEEP


def test_a_lower_is_better_signal_is_worse_upwards() -> None:
    policy = replace(
        POLICY, rollback_guard=RollbackGuard("drift_share", 0.25, 2 * HOUR, min_samples=1000)
    )
    worse = _judge(_window(drift_share=0.5), _window(drift_share=0.25), policy=policy)
    better = _judge(_window(drift_share=0.0), _window(drift_share=0.25), policy=policy)
    assert (worse.action, better.action) == (RollbackAction.ROLL_BACK, RollbackAction.WATCH)


def test_without_a_guard_or_a_measurement_nothing_is_rolled_back() -> None:
    assert (
        _judge(_window(accuracy=0.1), _window(accuracy=0.9), policy=POLICY).action
        is RollbackAction.KEEP
    )
    assert _judge(None, _window(accuracy=0.9)).action is RollbackAction.WATCH
    assert _judge(_window(accuracy=None), _window(accuracy=0.9)).action is RollbackAction.WATCH
