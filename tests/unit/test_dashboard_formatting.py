"""The dashboard's times and durations."""

from __future__ import annotations

import pytest

from loopml.dashboard.formatting import duration, timestamp


def test_timestamps_are_utc_to_the_second() -> None:
    assert timestamp(0) == "1970-01-01 00:00:00 UTC"
    assert timestamp(1_765_139_101_999) == "2025-12-07 20:25:01 UTC"
    assert timestamp(None) == ""


@pytest.mark.parametrize(
    ("elapsed_ms", "shown"),
    [
        (0, "0.0s"),
        (400, "0.4s"),
        (9_949, "9.9s"),
        (12_000, "12s"),
        (123_000, "2m 03s"),
        (3_723_000, "1h 02m 03s"),
    ],
)
def test_durations_read_at_a_glance(elapsed_ms: int, shown: str) -> None:
    assert duration(1_000, 1_000 + elapsed_ms) == shown


def test_a_run_still_going_has_no_duration_yet() -> None:
    assert duration(1_000, None) == ""
