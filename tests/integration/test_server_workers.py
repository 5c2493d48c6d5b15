"""``loopml server --workers N``: N processes share the port over one store that was migrated
once, before they started; every client request is answered whichever worker takes it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from loopml.tracking.client import Client
from tests.fixtures.backends import backend_unavailable, free_port
from tests.fixtures.model_server import LOOPML
from tests.fixtures.server import poll_ok

WORKERS = 2


def _workers_of(pid: int) -> list[int]:
    """The children of ``pid`` that are multiprocessing workers (spawned interpreters)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    found = []
    for child in map(int, children):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in cmdline:
            found.append(child)
    return found


def test_the_server_runs_several_workers_over_one_migrated_store(tmp_path: Path) -> None:
    if not Path("/proc/self/task").exists():
        backend_unavailable("counting worker processes needs /proc")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["LOOPML_STORE_URI"] = f"sqlite:///{tmp_path / 'loopml.db'}"
    env["LOOPML_ARTIFACT_URI"] = str(tmp_path / "artifacts")
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(LOOPML), "server", "--port", str(port), "--workers", str(WORKERS)],
            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        assert poll_ok(process, f"{url}/api/v1/health", 90), log_path.read_text()
        assert len(_workers_of(process.pid)) == WORKERS, log_path.read_text()
        with Client(server_url=url) as client:
            ids = [client.create_run("workers").id for _ in range(20)]
            assert [client.get_run(run_id).id for run_id in ids] == ids
    finally:
        process.terminate()
        process.wait(30)
    assert "Traceback" not in log_path.read_text()
