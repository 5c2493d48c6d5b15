"""The one retry policy: a time budget from LOOPML_RETRY_BUDGET_S, growing jittered sleeps,
only transient errors retried."""

from __future__ import annotations

import pytest

from loopml.core.errors import BackendUnavailableError, ConfigError, NotFoundError
from loopml.core.retry import DEFAULT_RETRY_BUDGET_S, RetryPolicy


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _policy(budget: float, time: FakeTime, jitter: float = 0.0) -> RetryPolicy:
    return RetryPolicy(budget_s=budget, jitter=jitter, clock=time.clock, sleep=time.sleep)


def test_the_budget_comes_from_the_environment_and_defaults_to_thirty_seconds() -> None:
    assert RetryPolicy.from_env({}).budget_s == DEFAULT_RETRY_BUDGET_S == 30.0
    assert RetryPolicy.from_env({"LOOPML_RETRY_BUDGET_S": "4.5"}).budget_s == 4.5
    assert RetryPolicy.from_env({"LOOPML_RETRY_BUDGET_S": "0"}).budget_s == 0.0


@pytest.mark.parametrize("raw", ["soon", "-1", "nan", "inf", "1e9"])
def test_a_bad_budget_is_a_config_error_naming_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError, match="LOOPML_RETRY_BUDGET_S must be a number"):
        RetryPolicy.from_env({"LOOPML_RETRY_BUDGET_S": raw})


def test_transient_errors_are_retried_with_doubling_sleeps_until_the_budget_is_spent() -> None:
    time = FakeTime()
    calls: list[float] = []

    def down() -> None:
        calls.append(time.now)
        raise BackendUnavailableError("away")

    with pytest.raises(BackendUnavailableError, match="away"):
        _policy(5.0, time).call(down, is_transient=lambda e: isinstance(e, BackendUnavailableError))
    assert time.sleeps[:5] == [0.1, 0.2, 0.4, 0.8, 1.6]
    assert all(s == 2.0 for s in time.sleeps[5:-1])  # capped
    assert time.now == pytest.approx(5.0)  # the last sleep is cut to what was left
    assert len(calls) == len(time.sleeps) + 1


def test_an_operation_that_recovers_returns_its_value() -> None:
    time = FakeTime()
    answers = iter([BackendUnavailableError("away"), BackendUnavailableError("away"), 7])

    def flaky() -> int:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert _policy(30.0, time).call(flaky, is_transient=lambda e: True) == 7
    assert len(time.sleeps) == 2


def test_a_permanent_error_or_a_zero_budget_is_raised_at_once() -> None:
    time = FakeTime()

    def missing() -> None:
        raise NotFoundError("no such run")

    transient = lambda e: isinstance(e, BackendUnavailableError)  # noqa: E731
    with pytest.raises(NotFoundError):
        _policy(30.0, time).call(missing, is_transient=transient)
    with pytest.raises(BackendUnavailableError):
        _policy(0.0, time).call(
            lambda: (_ for _ in ()).throw(BackendUnavailableError("x")), is_transient=transient
        )
    assert time.sleeps == []


def test_jitter_only_shortens_a_sleep() -> None:
    time = FakeTime()
    window = _policy(100.0, time, jitter=0.5).window()
    for _ in range(50):
        window.wait("op", "err")
    expected = [min(0.1 * 2**i, 2.0) for i in range(50)]
    assert all(0.5 * e <= s <= e for s, e in zip(time.sleeps, expected, strict=True))
    assert len(set(time.sleeps[10:])) > 1  # not all the same: clients spread out
