"""The spool a dead process left (batches its store never got) is sent by the next process,
by ``loopml runs gc`` and by ``loopml gc``, each batch stored once (batch ids); ``loopml gc``
removes what cannot be sent (its run is gone) once older than the grace period."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loopml.core.config import init_project
from loopml.core.entities import Metric, Tag
from loopml.tracking.client import Client
from loopml.tracking.spool import BatchSpool, PendingBatch
from loopml.tracking.spool_recovery import store_key
from tests.e2e.runner import cli


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    return process.pid


def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str], Path]:
    """A project (the current folder: its spool is in its .loopml/cache) with two runs; the
    first already holds the batch ``stored-0001`` (stored by the process that died, whose
    answer it never got); the second is then deleted."""
    folder = tmp_path / "project"
    folder.mkdir()
    init_project(folder)
    monkeypatch.chdir(folder)
    with Client(create=False) as client:
        kept = client.create_run("crashed")
        gone = client.create_run("crashed")
        first = Metric("loss", 1.0, 0, 1_000)
        client.metadata.log_batch(kept.id, metrics=[first], batch_id="stored-0001")
        client.delete_run(gone.id)
        root, key = client.batcher.spool_root, store_key(client.metadata.uri)
    assert root.is_relative_to(folder)
    spool = BatchSpool(root / f"{_dead_pid()}-deadbeef", 1 << 20, store_key=key)
    deadline = time.time() - 1  # the dead process had given up waiting: recovery sends anyway
    spool.push(PendingBatch("stored-0001", kept.id, [first], [], deadline))
    spool.push(PendingBatch("unsent-0002", kept.id, [Metric("loss", 0.5, 1, 2_000)],
                            [Tag("phase", "done")], deadline))  # fmt: skip
    spool.push(PendingBatch("unsent-0003", gone.id, [Metric("loss", 9.0, 0, 3_000)], [], deadline))
    return folder, [kept.id, gone.id], root


def _losses(run_id: str) -> list[tuple[int, float]]:
    with Client(create=False) as client:
        return [(m.step, m.value) for m in client.get_metric_history(run_id, "loss")]


def test_the_next_process_sends_a_dead_process_spool_once_and_keeps_what_cannot_be_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _folder, (kept, _gone), root = _project(tmp_path, monkeypatch)
    with Client(create=False) as client:
        client.create_run("next")  # its batcher starts, and sends the orphaned spool first
    with Client(create=False) as client:
        assert client.get_run(kept).tags["phase"] == "done"
    assert _losses(kept) == [(0, 1.0), (1, 0.5)]  # stored-0001 is not stored twice
    (left,) = [path for path in root.iterdir() if path.is_dir()]
    assert [path.name for path in sorted(left.glob("*.json"))] == ["000000000002.json"]


def test_runs_gc_and_gc_send_the_spool_and_gc_removes_what_cannot_be_sent_after_grace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, (kept, gone), root = _project(tmp_path, monkeypatch)
    env = {"TMPDIR": str(tmp_path)}

    dry = cli("runs", "gc", "--dry-run", "--json", cwd=folder, env=env)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["spool"]["resent_batches"] == 2
    assert _losses(kept) == [(0, 1.0)]  # a dry run sends nothing

    swept = cli("runs", "gc", cwd=folder, env=env)
    assert swept.returncode == 0, swept.stderr
    assert "Sent 2 batch(es) (3 metrics and tags)" in swept.stdout
    assert f"its run {gone} no longer exists" in swept.stdout
    assert _losses(kept) == [(0, 1.0), (1, 0.5)]

    young = cli("gc", "--apply", "--json", cwd=folder, env=env)  # grace 1d: kept
    assert young.returncode == 0, young.stderr
    assert len(json.loads(young.stdout)["spool"]["unsendable"]) == 1

    old = cli("gc", "--grace", "0", "--apply", cwd=folder, env=env)
    assert old.returncode == 0, old.stderr
    assert "Removed 1 spooled batch(es) that cannot be sent" in old.stdout
    assert not [path for path in root.iterdir() if path.is_dir()]
    assert _losses(kept) == [(0, 1.0), (1, 0.5)]
