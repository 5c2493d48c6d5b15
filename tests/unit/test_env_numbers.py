"""One reader for numbers in environment variables: the default when unset, a clear error
naming the variable, what is allowed and the value otherwise — for the tracking batcher, the
heartbeat, and the retry budget alike."""

from __future__ import annotations

import pytest

from loopml.core.env_numbers import env_number
from loopml.core.errors import ConfigError
from loopml.core.retry import RetryPolicy
from loopml.tracking.batcher import SPOOL_ENV, BatcherLimits
from loopml.tracking.heartbeat import HEARTBEAT_ENV, heartbeat_seconds, lapse_seconds


@pytest.mark.parametrize("text", [None, "", "  "])
def test_an_unset_or_blank_variable_gives_the_default(text: str | None) -> None:
    environ = {} if text is None else {"LOOPML_X": text}
    assert env_number("LOOPML_X", 2.5, environ=environ) == 2.5


def test_a_number_is_read_with_the_bounds_it_may_touch() -> None:
    assert env_number("LOOPML_X", 1.0, environ={"LOOPML_X": " 0 "}) == 0.0
    assert env_number("LOOPML_X", 1.0, high=10, environ={"LOOPML_X": "10"}) == 10.0
    assert env_number("LOOPML_X", 1.0, low_allowed=False, environ={"LOOPML_X": "0.5"}) == 0.5


@pytest.mark.parametrize(
    ("text", "bounds", "allowed"),
    [
        ("abc", {}, "a number >= 0"),
        ("-1", {"unit": "MiB"}, "a number of MiB >= 0"),
        ("nan", {}, "a number >= 0"),
        ("0", {"low_allowed": False, "unit": "seconds"}, "a number of seconds > 0"),
        ("11", {"high": 10}, "a number from 0 to 10"),
        ("inf", {"low_allowed": False, "high": 1e9}, "a number > 0 and <= 1000000000"),
    ],
)
def test_a_bad_value_names_the_variable_what_is_allowed_and_the_value(
    text: str, bounds: dict[str, object], allowed: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        env_number("LOOPML_X", 1.0, environ={"LOOPML_X": text}, **bounds)  # type: ignore[arg-type]
    assert str(raised.value) == f"LOOPML_X must be {allowed}, got {text!r}."


def test_the_heartbeat_and_the_batcher_read_their_variables_through_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(HEARTBEAT_ENV, "0")
    with pytest.raises(
        ConfigError, match="LOOPML_HEARTBEAT_SECONDS must be a number of seconds > 0"
    ):
        heartbeat_seconds()
    monkeypatch.setenv(HEARTBEAT_ENV, "2")
    monkeypatch.setenv("LOOPML_RUN_LAPSE_SECONDS", "later")
    with pytest.raises(ConfigError, match="LOOPML_RUN_LAPSE_SECONDS must be a number of seconds"):
        lapse_seconds()
    monkeypatch.setenv(SPOOL_ENV, "-3")
    with pytest.raises(ConfigError, match="LOOPML_LOG_SPOOL_MB must be a number of MiB >= 0"):
        BatcherLimits.from_env()
    monkeypatch.setenv(SPOOL_ENV, "1.5")
    assert BatcherLimits.from_env() == BatcherLimits(spool_bytes=3 << 19, heartbeat_seconds=2.0)


def test_the_retry_budget_keeps_its_range() -> None:
    assert RetryPolicy.from_env({}).budget_s == RetryPolicy().budget_s
    with pytest.raises(ConfigError, match="from 0 to 86400, got '90000'"):
        RetryPolicy.from_env({"LOOPML_RETRY_BUDGET_S": "90000"})
