"""Real processes against a real embedded store: concurrency, crashes, signals, exit paths."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from loopml import Client, RunStatus
from tests.e2e.runner import cli
from tests.fixtures.model_server import wait_for

pytestmark = pytest.mark.timeout(180)


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["LOOPML_STORE_URI"] = f"sqlite:///{tmp_path / 'store' / 'loopml.db'}"
    env["LOOPML_ARTIFACT_URI"] = str(tmp_path / "artifacts")
    env.pop("LOOPML_SERVER_URL", None)
    return env


def _client(tmp_path: Path) -> Client:
    return Client(
        store_uri=f"sqlite:///{tmp_path / 'store' / 'loopml.db'}",
        artifact_uri=str(tmp_path / "artifacts"),
    )


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / f"script_{abs(hash(body))}.py"
    path.write_text(textwrap.dedent(body))
    return path


def test_eight_processes_on_a_fresh_store_lose_nothing(tmp_path: Path) -> None:
    start_at = time.time() + 3.0  # all processes open the fresh store at the same instant
    script = _script(
        tmp_path,
        f"""
        import sys, time
        import loopml
        while time.time() < {start_at}:
            time.sleep(0.001)
        with loopml.start_run(experiment="concurrency", name=sys.argv[1]) as run:
            for i in range(2000):
                run.log_metric("m", float(i), step=i)
        """,
    )
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), f"worker-{n}"],
            env=_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
        )
        for n in range(8)
    ]
    failures = []
    for proc in procs:
        _out, err = proc.communicate(timeout=150)
        if proc.returncode != 0:
            failures.append(err.decode()[-2000:])
    assert failures == []
    with _client(tmp_path) as client:
        runs = list(client.search_runs(experiment="concurrency"))
        assert len(runs) == 8
        assert {run.status for run in runs} == {RunStatus.FINISHED}
        total = sum(len(client.get_metric_history(run.id, "m")) for run in runs)
    assert total == 16_000


def test_sigkill_mid_run_leaves_a_readable_store_and_an_unfinished_run(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        import os, sys, loopml
        with loopml.start_run(experiment="crash") as run:
            print(run.id, flush=True)
            payload = os.urandom(8 << 20)
            for i in range(10**9):
                run.log_metric("m", float(i), step=i)
                if i % 5000 == 0:
                    path = f"blob-{i}.bin"
                    with open(path, "wb") as f:
                        f.write(payload + str(i).encode())
                    run.log_artifact(path, artifact_path="blobs")
                if i == 20000:
                    print("ready", flush=True)
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env=_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with _client(tmp_path) as client:
        run = client.get_run(run_id)
        assert run.status is RunStatus.RUNNING  # never shown as FINISHED
        assert len(client.get_metric_history(run_id, "m")) > 0
        listed = client.list_artifacts(run_id, "blobs")
        assert listed, "some artifacts were logged before the kill"
        # every listed artifact is complete and verifies against its digest
        client.download_artifacts(run_id, "blobs", tmp_path / "check")
        for entry in listed:
            local = tmp_path / "check" / entry.path
            assert local.stat().st_size == entry.size


def test_sigterm_marks_the_run_killed_after_flushing(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        import time, loopml
        with loopml.start_run(experiment="signals") as run:
            for i in range(100):
                run.log_metric("m", float(i), step=i)
            print(run.id, flush=True)
            time.sleep(60)
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env=_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM
    with _client(tmp_path) as client:
        assert client.get_run(run_id).status is RunStatus.KILLED
        assert len(client.get_metric_history(run_id, "m")) == 100


@pytest.mark.parametrize(
    ("ending", "status", "code"),
    [("raise RuntimeError('boom')", RunStatus.FAILED, 1), ("pass", RunStatus.FINISHED, 0)],
)
def test_a_run_left_open_is_ended_when_the_process_exits(
    tmp_path: Path, ending: str, status: RunStatus, code: int
) -> None:
    script = _script(
        tmp_path,
        f"""
        import loopml
        runs = loopml.start_run(experiment="exit")
        run = runs.__enter__()   # opened and never closed by the script
        for i in range(50):
            run.log_metric("m", float(i), step=i)
        print(run.id, flush=True)
        {ending}
        """,
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        env=_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == code, done.stderr
    run_id = done.stdout.strip()
    with _client(tmp_path) as client:
        assert client.get_run(run_id).status is status
        assert len(client.get_metric_history(run_id, "m")) == 50


def test_a_sigkilled_run_shows_as_lost_and_runs_gc_closes_it_at_its_last_heartbeat(
    tmp_path: Path,
) -> None:
    script = _script(
        tmp_path,
        """
        import time, loopml
        with loopml.start_run(experiment="sigkill") as run:
            run.log_metric("m", 1.0)
            print(run.id, flush=True)
            time.sleep(120)
        """,
    )
    env = {**_env(tmp_path), "LOOPML_HEARTBEAT_SECONDS": "0.2"}
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    with _client(tmp_path) as client:
        started = client.get_run(run_id).heartbeat_at
        assert started is not None
        assert wait_for(lambda: (client.get_run(run_id).heartbeat_at or 0) > started, 60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        last_beat = client.get_run(run_id).heartbeat_at
        time.sleep(1.5)  # the heartbeat lapses (threshold 1 s below)
        assert client.get_run(run_id).status is RunStatus.RUNNING

    store_env = {k: v for k, v in _env(tmp_path).items() if k.startswith("LOOPML_")}
    listed = cli("runs", "list", cwd=tmp_path, env={**store_env, "LOOPML_RUN_LAPSE_SECONDS": "1"})
    assert listed.returncode == 0, listed.stderr
    assert "RUNNING (lost, last heartbeat" in listed.stdout
    dry = cli(
        "runs", "gc", "--older-than", "1s", "--dry-run", "--json", cwd=tmp_path, env=store_env
    )
    assert dry.returncode == 0, dry.stderr
    assert [r["id"] for r in json.loads(dry.stdout)["runs"]] == [run_id]
    closed = cli("runs", "gc", "--older-than", "1s", cwd=tmp_path, env=store_env)
    assert closed.returncode == 0, closed.stderr
    assert "Closed 1 run" in closed.stdout
    bad = cli("runs", "gc", "--older-than", "soon", cwd=tmp_path, env=store_env)
    assert bad.returncode == 2 and "--older-than" in bad.stderr
    with _client(tmp_path) as client:
        run = client.get_run(run_id)
    assert run.status is RunStatus.KILLED
    assert run.end_time == run.heartbeat_at == last_beat
