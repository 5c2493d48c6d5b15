"""Pieces both benchmark sides share. Standard library only: this module is imported by
``_mlflow_side.py`` (inside MLflow's virtualenv) and ``_loopml_side.py`` (inside loopml's).

A side script is called as ``python _<tool>_side.py BENCH --workdir DIR --json SPEC`` and
prints exactly one line ``BENCH_RESULT {json}`` on stdout; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

RESULT_PREFIX = "BENCH_RESULT "
LOOPBACK = "127.0.0.1"


def parse_side_args(benches: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("bench", choices=list(benches))
    parser.add_argument("--workdir", required=True, type=Path, help="a fresh, empty folder")
    parser.add_argument("--spec", default="{}", help="sizes as JSON, e.g. '{\"n\": 1000}'")
    args = parser.parse_args()
    args.spec = json.loads(args.spec)
    # SIGTERM from the orchestrator unwinds the stack, so servers started here are stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.workdir.mkdir(parents=True, exist_ok=True)
    return args


def emit(result: dict[str, Any]) -> None:
    """Hand the result to the orchestrator (one JSON line on stdout)."""
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()


def log(message: str) -> None:
    print(f"    {message}", file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def timed(fn: Callable[[], object]) -> float:
    """Seconds ``fn()`` took on the ``perf_counter`` clock."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


class ServerProcess:
    """A server started in its own process group on loopback, stopped (group and all) on exit.

    ``ready_seconds`` is the time from spawn to the first HTTP 200 of ``health_url``.
    """

    def __init__(
        self,
        cmd: Sequence[str],
        health_url: str,
        *,
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        ready_timeout: float = 180.0,
    ) -> None:
        self.cmd = list(cmd)
        self.health_url = health_url
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.ready_timeout = ready_timeout
        self.ready_seconds = float("nan")
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        log_file = self.log_path.open("ab")
        start = time.perf_counter()
        self._proc = subprocess.Popen(
            self.cmd,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,  # own process group: workers die with the parent
        )
        log_file.close()
        try:
            self._wait_ready(start)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, start: float) -> None:
        assert self._proc is not None
        while True:
            if http_ok(self.health_url, timeout=1.0):
                self.ready_seconds = time.perf_counter() - start
                return
            if self._proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(
                    f"server exited with code {self._proc.returncode} before it was ready:"
                    f" {' '.join(self.cmd)}\n{tail}"
                )
            if time.perf_counter() - start > self.ready_timeout:
                raise TimeoutError(f"server not ready after {self.ready_timeout} s: {self.cmd}")
            time.sleep(0.01)

    def settle(self, *, max_wait: float = 180.0, idle_cores: float = 0.05) -> float:
        """Wait until the server's process group is idle (its workers have finished starting:
        MLflow answers /health from its first worker while three more are still importing).
        Returns the seconds waited."""
        assert self._proc is not None
        ticks = os.sysconf("SC_CLK_TCK")
        start = time.perf_counter()
        before = _group_cpu_ticks(self._proc.pid)
        while time.perf_counter() - start < max_wait:
            time.sleep(1.0)
            after = _group_cpu_ticks(self._proc.pid)
            if (after - before) / ticks <= idle_cores:
                break
            before = after
        return time.perf_counter() - start

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server's processes have used so far (Linux)."""
        assert self._proc is not None
        return _group_cpu_ticks(self._proc.pid) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        pgid = proc.pid  # start_new_session made the child its group's leader
        os.killpg(pgid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            proc.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):  # reap any worker left in the group
            os.killpg(pgid, signal.SIGKILL)
        deadline = time.perf_counter() + 10
        while _group_members(pgid) and time.perf_counter() < deadline:
            time.sleep(0.05)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _group_stats(pgid: int) -> list[list[str]]:
    """The ``/proc/<pid>/stat`` fields (after the command name) of process group ``pgid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(fields)
    return found


def _group_members(pgid: int) -> int:
    return len(_group_stats(pgid))


def _group_cpu_ticks(pgid: int) -> int:
    """User + system CPU ticks of every live process in process group ``pgid`` (Linux)."""
    return sum(int(fields[11]) + int(fields[12]) for fields in _group_stats(pgid))


def run_data(index: int, seed: int = 42) -> dict[str, Any]:
    """The metrics and params of run ``index`` of the search corpus; identical on both sides."""
    import random

    rng = random.Random(seed * 1_000_003 + index)
    return {
        "params": {
            "model": rng.choice(["rf", "xgb", "lr"]),
            "depth": str(rng.randint(2, 12)),
            "lr": f"{rng.choice([0.001, 0.01, 0.1]):g}",
        },
        "metrics": {"auc": rng.uniform(0.5, 1.0), "loss": rng.uniform(0.0, 1.0)},
        "tags": {"team": rng.choice(["a", "b"])},
    }


def matches_search(data: dict[str, Any]) -> bool:
    """The search filter, evaluated in Python to check both tools' answers."""
    return bool(data["metrics"]["auc"] > 0.9 and data["params"]["model"] == "rf")


SEARCH_FILTER = "metrics.auc > 0.9 and params.model = 'rf'"
