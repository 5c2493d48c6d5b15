"""Remote ``start_run``: runs per second through ``loopml server`` on loopback (goal ≥ 150/s).

What a training script does with ``LOOPML_SERVER_URL`` set: ``with loopml.start_run(): pass``,
with no client passed, so every run opens (and closes) its own :class:`loopml.Client`. Each run
is two requests: create (naming the experiment, which the server resolves) and end (``Prefer:
return=minimal``, so the run is not read back). The server runs over SQLite in a fresh folder
and is left to settle before timing. Under load, compare builds by the CPU per run it also
prints (client process, server process group), not by the wall time.

    .venv/bin/python benchmarks/run_remote_runs.py            # 1000 runs × 3 rounds
    .venv/bin/python benchmarks/run_remote_runs.py --quick    # 100 runs × 1 round
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from _harness import LOOPBACK, free_port, median, timed
from _loopml_side import loopml_server

import loopml

GOAL_PER_SECOND = 150.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100 runs, one round")
    args = parser.parse_args()
    runs, rounds = (100, 1) if args.quick else (args.runs, args.rounds)
    with (
        tempfile.TemporaryDirectory(prefix="loopml-bench-remote-runs-") as folder,
        loopml_server(Path(folder), free_port()) as server,
    ):
        server.settle()
        os.environ["LOOPML_SERVER_URL"] = server.health_url.removesuffix("/api/v1/health")
        with loopml.start_run(experiment="bench"):  # warm-up: imports, the experiment
            pass

        def body() -> None:
            for _ in range(runs):
                with loopml.start_run(experiment="bench"):
                    pass

        seconds, client_ms, server_ms = [], [], []
        for index in range(rounds):
            client_cpu, server_cpu = time.process_time(), server.cpu_seconds()
            seconds.append(timed(body))
            client_ms.append((time.process_time() - client_cpu) * 1000 / runs)
            server_ms.append((server.cpu_seconds() - server_cpu) * 1000 / runs)
            print(
                f"round {index + 1}: {runs / seconds[-1]:.1f} runs/s; CPU per run: client "
                f"{client_ms[-1]:.2f} ms, server {server_ms[-1]:.2f} ms",
                flush=True,
            )
    per_second = runs / median(seconds)
    verdict = "PASS" if per_second >= GOAL_PER_SECOND else "FAIL"
    print(
        f"remote start_run: {per_second:.1f} runs/s (median of {rounds} rounds of {runs}; "
        f"goal ≥ {GOAL_PER_SECOND:.0f}/s) {verdict}\n"
        f"CPU per run (medians; what load changes least): client {median(client_ms):.2f} ms, "
        f"server {median(server_ms):.2f} ms\n"
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}; server on "
        f"{LOOPBACK}"
    )


if __name__ == "__main__":
    main()
