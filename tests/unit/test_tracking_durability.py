"""Pure parts of durable tracking: the disk spool of unsent batches, lapse arithmetic and
the ``--older-than`` parser."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from loopml.cli.runs import parse_age
from loopml.core.entities import Metric, Run, RunStatus, Tag
from loopml.core.errors import InvalidInputError
from loopml.tracking.heartbeat import format_age, lost_for_ms
from loopml.tracking.spool import BatchSpool, PendingBatch


def _batch(number: int, points: int = 3) -> PendingBatch:
    metrics = [Metric("m", float(step), step, 1000 + step) for step in range(points)]
    return PendingBatch(f"b{number}", "run-1", metrics, [Tag("t", str(number))], 12.5)


def test_the_spool_gives_batches_back_oldest_first_and_cleans_up(tmp_path: Path) -> None:
    spool = BatchSpool(tmp_path / "spool", max_bytes=1 << 20)
    batches = [_batch(n) for n in range(5)]
    for batch in batches:
        assert spool.push(batch)
    assert (len(spool), spool.points) == (5, 20)
    for batch in batches[:2]:
        assert spool.peek() == batch
        spool.pop()
    assert (len(spool), spool.points) == (3, 12)
    spool.remove()
    assert not (tmp_path / "spool").exists() and spool.peek() is None


def test_the_spool_refuses_a_batch_beyond_its_bound_and_keeps_the_rest(tmp_path: Path) -> None:
    size = len(_batch(0).to_json())
    spool = BatchSpool(tmp_path / "spool", max_bytes=2 * size + size // 2)
    assert spool.push(_batch(0)) and spool.push(_batch(1))
    assert not spool.push(_batch(2))
    assert len(spool) == 2 and len(list((tmp_path / "spool").glob("*.json"))) == 2


def test_a_spooled_batch_keeps_nan_and_infinities() -> None:
    values = [math.nan, math.inf, -math.inf, 0.5]
    batch = PendingBatch("b", "r", [Metric("m", v, 0, 0) for v in values], [], 1.0)
    back = PendingBatch.from_json(batch.to_json())
    assert math.isnan(back.metrics[0].value)
    assert [m.value for m in back.metrics[1:]] == values[1:]


def _run(status: RunStatus, heartbeat_at: int | None) -> Run:
    return Run("r", "e", "n", status, 0, None, heartbeat_at=heartbeat_at)


def test_only_a_running_run_silent_beyond_the_lapse_is_lost() -> None:
    assert lost_for_ms(_run(RunStatus.RUNNING, 1_000), 302_000, 300) == 301_000
    assert lost_for_ms(_run(RunStatus.RUNNING, 1_000), 301_000, 300) is None
    assert lost_for_ms(_run(RunStatus.FINISHED, 1_000), 10**9, 300) is None
    assert lost_for_ms(_run(RunStatus.RUNNING, None), 10**9, 300) is None  # before heartbeats
    assert [format_age(ms) for ms in (999, 45_000, 300_000, 7_200_000, 2 * 86_400_000)] == [
        "0s",
        "45s",
        "5m",
        "2h",
        "2d",
    ]


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400)]
)
def test_older_than_takes_seconds_minutes_hours_and_days(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-5m", "", "m", "10w"])
def test_older_than_rejects_anything_else_naming_the_option(text: str) -> None:
    with pytest.raises(InvalidInputError, match="--older-than"):
        parse_age(text)
