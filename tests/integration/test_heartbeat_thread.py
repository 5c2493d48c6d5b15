"""Runs of many clients are marked alive by the process's one heartbeat thread: a run that
logs nothing starts no thread of its own (``loopml.start_run()`` opens a client per run)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from loopml.tracking.client import Client
from tests.fixtures.model_server import wait_for


def _client(tmp_path: Path) -> Client:
    return Client(f"sqlite:///{tmp_path / 'loopml.db'}", str(tmp_path / "artifacts"))


def test_runs_of_several_clients_beat_from_one_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_HEARTBEAT_SECONDS", "0.2")
    clients = [_client(tmp_path) for _ in range(3)]
    try:
        runs = [client.create_run("beats") for client in clients]
        names = [thread.name for thread in threading.enumerate()]
        assert names.count("loopml-beats") == 1 and "loopml-batcher" not in names, names
        started = {run.id: run.heartbeat_at or 0 for run in runs}
        with _client(tmp_path) as reader:
            for run in runs:
                beaten = lambda: (reader.get_run(run.id).heartbeat_at or 0) > started[run.id]  # noqa: E731, B023
                assert wait_for(beaten, 60), run.id
        for client, run in zip(clients, runs, strict=True):
            client.set_terminated(run.id)
    finally:
        for client in clients:
            client.close()
