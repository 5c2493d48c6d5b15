"""Does the loop slow serving down? `loopml serve` under the same wrk load with `loopml agent`
off and on, rounds alternating, in one run (issue 14: "the loop adds no measurable latency to
serving").

    .venv/bin/python benchmarks/run_agent_serving.py                 # ~4 min
    .venv/bin/python benchmarks/run_agent_serving.py --seconds 10 --rounds 3

The project is the quickstart's (`loopml quickstart DIR`), served as users serve it
(`loopml serve breast-cancer@champion`, no flags: the prediction log on). The agent looks after
that model with the quickstart loop's policy and alert rules (`quickstart --loop` writes them),
its decay trigger set so that it cannot fire (no labels come): every tick reads the newest
monitoring windows of the served model — its prediction log, written as wrk sends — evaluates
the alert rules and the rollback guard, and starts no training, which would compete for the
cores for reasons of its own. The agent ticks every second (`--tick 1s`; the default is 30 s),
so this is its cost at thirty times its usual pace.

Load: `wrk` POSTs one row of the holdout (`{"inputs": [[30 numbers]]}`) to `/invocations` at
concurrency 1 and 16 for `--seconds` per case. Prints requests/s and p50 / p99 per case, agent
on over agent off (medians over the rounds); raw numbers go to
`benchmarks/results/agent-serving-<date>.json`.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import yaml
from _harness import LOOPBACK, ServerProcess, free_port
from _tables import markdown_table
from run_serving import LUA, ensure_wrk, run_wrk
from run_tracking import machine_info

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LOOPML = str(Path(sys.executable).parent / "loopml")
MODEL, ALIAS, DATASET, HOLDOUT, TARGET = (
    "breast-cancer",
    "champion",
    "breast_cancer",
    "breast_cancer_holdout",
    "target",
)
CONCURRENCY = (1, 16)


def make_project(folder: Path) -> list[float]:
    """The quickstart's project in ``folder`` with the loop's policy (its decay trigger unable to
    fire) and alert rules; returns one holdout row to send."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    subprocess.run([LOOPML, "quickstart", str(folder), "--quiet"], check=True, env=env)
    from loopml.cli.quickstart_loop_config import write_loop_config

    path = write_loop_config(folder, model=MODEL, alias=ALIAS, dataset=DATASET)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    triggers = {"decay": {"metric": "accuracy", "below": 0.01, "window": "1m", "min_labels": 100}}
    document["retraining"][0]["triggers"] = triggers
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    with (folder / "data" / f"{HOLDOUT}.csv").open(encoding="utf-8", newline="") as source:
        first = next(csv.DictReader(source))
    return [float(value) for name, value in first.items() if name != TARGET]


class Agent:
    """``loopml agent --tick 1s`` in the project, while the ``with`` block runs."""

    def __init__(self, folder: Path, log: Path) -> None:
        self.folder, self.log = folder, log
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Agent:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [LOOPML, "agent", "--tick", "1s", "--lease-ttl", "10s"],
                cwd=self.folder,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def __exit__(self, *_: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(60)
        if code != 0:
            sys.exit(f"the agent exited with {code}; its log: {self.log}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=15, help="measured seconds per case")
    parser.add_argument("--rounds", type=int, default=2, help="off/on pairs; medians")
    args = parser.parse_args()
    wrk = ensure_wrk()
    results: dict[str, Any] = {"machine": machine_info(None), "cases": []}
    with tempfile.TemporaryDirectory(prefix="loopml-bench-agent-serving-") as scratch:
        root = Path(scratch)
        folder = root / "project"
        row = make_project(folder)
        script = root / "post.lua"
        script.write_text(LUA % json.dumps({"inputs": [row]}), encoding="utf-8")
        port = free_port()
        url = f"http://{LOOPBACK}:{port}"
        command = [LOOPML, "serve", f"{MODEL}@{ALIAS}", "--port", str(port), "--quiet"]
        with ServerProcess(command, f"{url}/ping", log_path=root / "serve.log", cwd=folder) as s:
            s.settle()
            for index in range(args.rounds):
                for agent in (False, True):
                    print(f"round {index + 1}, agent {'on' if agent else 'off'}", flush=True)
                    with Agent(folder, root / "agent.log") if agent else nullcontext():
                        for connections in CONCURRENCY:
                            measured = run_wrk(
                                wrk, f"{url}/invocations", script, connections, args.seconds
                            )
                            if measured["non_2xx"] or measured["socket_errors"]:
                                sys.exit(f"errors under load: {measured}")
                            case = {"agent": agent, "concurrency": connections, "round": index}
                            results["cases"].append({**case, **measured})
                            print(f"  c={connections}: {measured}", flush=True)
        ticks = (root / "agent.log").read_text(encoding="utf-8", errors="replace")
        results["agent_log_tail"] = ticks.strip().splitlines()[-5:]
    report(results)
    day = dt.datetime.now(dt.UTC).date().isoformat()
    out = HERE / "results" / f"agent-serving-{day}.json"
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"raw numbers: {out.relative_to(REPO)}")
    return 0


def report(results: dict[str, Any]) -> None:
    def median(agent: bool, connections: int, key: str) -> float:
        found = [
            c[key]
            for c in results["cases"]
            if c["agent"] is agent and c["concurrency"] == connections
        ]
        return statistics.median(found)

    lines = [["concurrency", "measure", "agent off", "agent on", "on / off"]]
    for connections in CONCURRENCY:
        for key in ("requests_per_s", "p50_ms", "p99_ms"):
            off, on = median(False, connections, key), median(True, connections, key)
            lines.append([str(connections), key, f"{off:.2f}", f"{on:.2f}", f"{on / off:.3f}"])
    print(markdown_table(lines))


if __name__ == "__main__":
    raise SystemExit(main())
