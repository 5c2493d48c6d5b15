"""Alert rules judged on monitoring windows: firing, cooldown, no data, and the state the
caller keeps between evaluations."""

from __future__ import annotations

import json
import math

import pytest

from loopml.core.errors import InvalidInputError
from loopml.loop.alert_rules import AlertRule, Condition
from loopml.loop.alerts import AlertState, SignalWindow, evaluate, synthetic_firing

HOUR = 3_600_000
START = 1_700_000_000_000


def _rule(
    name: str = "drift",
    model: str = "churn@champion",
    condition: Condition | None = None,
    **kw: int,
) -> AlertRule:
    return AlertRule(
        name,
        model,
        "drift_share",
        condition or Condition(">", 0.3),
        window_ms=kw.get("window_ms", HOUR),
        cooldown_ms=kw.get("cooldown_ms", 2 * HOUR),
    )


def _window(value: float | None, *, model: str = "churn@champion", end: int = START + HOUR,
            length: int = HOUR) -> SignalWindow:  # fmt: skip
    return SignalWindow(model, end - length, end, {"drift_share": value, "traffic": 10.0})


def test_a_rule_fires_when_its_condition_holds_and_not_otherwise() -> None:
    fired = evaluate([_rule()], [_window(0.5)], AlertState(), now_ms=START + HOUR)
    (firing,) = fired.firings
    assert (firing.value, firing.model, firing.start_ms, firing.end_ms) == (
        0.5, "churn@champion", START, START + HOUR,
    )  # fmt: skip
    assert fired.state.last_fired("drift", "churn@champion") == START + HOUR
    body = firing.to_dict()
    assert body["threshold"] == 0.3 and body["condition"] == "> 0.3" and body["test"] is False
    assert body["window"]["length"] == "1h" and body["severity"] == "warning"
    quiet = evaluate([_rule()], [_window(0.3)], AlertState(), now_ms=START + HOUR)
    assert quiet.firings == () and quiet.no_data == () and quiet.state == AlertState()


def test_each_operator_compares_as_written() -> None:
    for operator, fires_at in ((">", [0.5]), (">=", [0.3, 0.5]), ("<", [0.1]), ("<=", [0.1, 0.3])):
        rule = _rule(condition=Condition(operator, 0.3))
        fired = [
            value
            for value in (0.1, 0.3, 0.5)
            if evaluate([rule], [_window(value)], AlertState(), now_ms=START).firings
        ]
        assert fired == fires_at, operator


def test_a_rule_stays_quiet_during_its_cooldown_and_fires_again_after_it() -> None:
    rule = _rule(cooldown_ms=2 * HOUR)
    first = evaluate([rule], [_window(0.5)], AlertState(), now_ms=START + HOUR)
    later = _window(0.6, end=START + 2 * HOUR)
    held = evaluate([rule], [later], first.state, now_ms=START + 2 * HOUR)
    assert held.firings == () and [f.value for f in held.suppressed] == [0.6]
    assert held.state == first.state  # a held-back firing does not restart the cooldown
    again = _window(0.7, end=START + 3 * HOUR)
    after = evaluate([rule], [again], held.state, now_ms=START + 3 * HOUR)
    assert [f.value for f in after.firings] == [0.7]
    assert after.state.last_fired("drift", "churn@champion") == START + 3 * HOUR


def test_a_missing_signal_is_no_data_not_a_firing() -> None:
    rules = [_rule(condition=Condition("<", 0.3))]  # "below" would fire on a 0 read for None
    for value in (None, math.nan, math.inf):
        result = evaluate(rules, [_window(value)], AlertState(), now_ms=START)
        assert result.firings == () and result.suppressed == ()
        assert [(n.rule, n.model, n.reason) for n in result.no_data] == [
            ("drift", "churn@champion", "no value of drift_share")
        ]
    absent = SignalWindow("churn@champion", START, START + HOUR, {"traffic": 0.0})
    assert evaluate(rules, [absent], AlertState(), now_ms=START).no_data[0].reason == (
        "no value of drift_share"
    )


def test_no_window_of_the_model_or_of_the_rules_length_is_no_data() -> None:
    rule = _rule()
    other_model = evaluate([rule], [_window(0.9, model="fraud@champion")], AlertState(), now_ms=0)
    assert [n.reason for n in other_model.no_data] == ["no window of churn@champion"]
    short = evaluate([rule], [_window(0.9, length=HOUR // 4)], AlertState(), now_ms=0)
    assert [n.reason for n in short.no_data] == ["no 1h window of churn@champion"]
    assert other_model.firings == short.firings == ()


def test_the_newest_window_of_the_rules_length_is_judged() -> None:
    old, new = _window(0.9, end=START + HOUR), _window(0.1, end=START + 2 * HOUR)
    quarter = _window(0.9, end=START + 2 * HOUR, length=HOUR // 4)
    result = evaluate([_rule()], [new, old, quarter], AlertState(), now_ms=START + 2 * HOUR)
    assert result.firings == () and result.no_data == ()


def test_a_rule_on_a_model_name_judges_each_alias_with_its_own_cooldown() -> None:
    rule = _rule(model="churn")
    windows = [_window(0.5, model="churn@champion"), _window(0.4, model="churn@challenger")]
    first = evaluate([rule], windows, AlertState(), now_ms=START + HOUR)
    assert [(f.model, f.value) for f in first.firings] == [
        ("churn@challenger", 0.4), ("churn@champion", 0.5),
    ]  # fmt: skip
    assert len(first.state.last_fired_ms) == 2


def test_the_delivery_id_is_the_same_for_the_same_rule_model_and_window() -> None:
    window = _window(0.5)
    once = evaluate([_rule()], [window], AlertState(), now_ms=START + HOUR).firings[0]
    twice = evaluate([_rule()], [window], AlertState(), now_ms=START + 5 * HOUR).firings[0]
    moved = evaluate([_rule()], [_window(0.5, end=START + 2 * HOUR)], AlertState(), now_ms=0)
    assert once.delivery_id == twice.delivery_id != moved.firings[0].delivery_id
    assert len(once.delivery_id) == 32


def test_the_state_round_trips_through_json() -> None:
    state = evaluate([_rule(model="churn")], [_window(0.5)], AlertState(), now_ms=START).state
    stored = json.loads(json.dumps(state.to_dict()))
    assert AlertState.from_dict(stored) == state
    assert AlertState.from_dict({}) == AlertState()


def test_a_synthetic_firing_is_marked_as_a_test_and_defaults_to_the_threshold() -> None:
    firing = synthetic_firing(_rule(), now_ms=START)
    assert firing.test and firing.value == 0.3 and firing.end_ms - firing.start_ms == HOUR
    assert synthetic_firing(_rule(), now_ms=START, value=2).to_dict()["value"] == 2.0
    assert firing.delivery_id != synthetic_firing(_rule(), now_ms=START).delivery_id
    with pytest.raises(InvalidInputError, match="finite value"):
        synthetic_firing(_rule(), now_ms=START, value=math.nan)
