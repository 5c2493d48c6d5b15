"""Start-up cost of the commands that load a scikit-learn model (issue 13, item 21).

    .venv/bin/python benchmarks/run_startup.py                   # builds a quickstart project
    .venv/bin/python benchmarks/run_startup.py --project DIR     # reuse one (made before)
    .venv/bin/python benchmarks/run_startup.py --repeat 5 --importtime

On a project made by ``loopml quickstart DIR --quiet`` (its champion ``breast-cancer`` is a
scikit-learn model, registered with its ONNX variant when the ONNX extra is installed; its
pipeline ``training`` has run), times the commands as a user runs them, each a fresh process,
``--repeat`` times (median reported):

- ``loopml predict breast-cancer@champion`` of 60 holdout rows (CSV in, CSV out): with
  ``--no-onnx`` (the scikit-learn model loads, through skops) and as run by default (the ONNX
  variant, when the version has one);
- ``loopml gate breast-cancer@champion`` with the project's ``gates.yaml``;
- ``loopml pipeline run training``, fully cached (run once before timing);
- ``loopml serve breast-cancer@champion --no-log``, with ``--no-onnx`` and by default: from
  start to ``/health`` 200;
- the floor: ``python -c "import sklearn.linear_model"`` (scikit-learn alone: no command that
  builds a scikit-learn model can start faster) and ``python -c "import loopml.cli.main"``.

Prints seconds per command against the goal (≤ 1.5 s each on an idle machine), the load
average around the run, and with ``--importtime`` the ten slowest top-level imports of the
native and the ONNX ``predict``, the gate and the cached run (``python -X importtime``). Raw
numbers go to ``benchmarks/results/startup-<date>.json``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import LOOPBACK, free_port, http_ok
from _tables import markdown_table
from run_tracking import machine_info

HERE = Path(__file__).resolve().parent
LOOPML = Path(sys.executable).with_name("loopml")
GOAL_SECONDS = 1.5
MODEL_REF = "breast-cancer@champion"
ROWS = 60
SERVE_TIMEOUT = 120.0
FLOOR = ("sklearn.linear_model", "loopml.cli.main")


def _has_onnx(project: Path, predict: list[str]) -> bool:
    """Whether the champion has an ONNX variant (what predict then scores with)."""
    done = subprocess.run(
        [str(LOOPML), *predict], cwd=project, env=_env(), capture_output=True, text=True
    )
    return "(onnx)" in done.stdout


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}


def _children_cpu() -> float:
    """CPU seconds (user + system) of the child processes waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(project: Path, *args: str, expect: str = "") -> tuple[float, float]:
    """Wall and CPU seconds ``loopml ARGS`` took in ``project`` (it must succeed and print
    ``expect``)."""
    return _timed([str(LOOPML), *args], project, expect)


def _timed(command: list[str], project: Path, expect: str = "") -> tuple[float, float]:
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(command, cwd=project, env=_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):  # gate exits 1 when a check fails: still a full run
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    if expect not in done.stdout:
        raise SystemExit(f"{' '.join(command)} did not print {expect!r}:\n{done.stdout}")
    return seconds, _children_cpu() - cpu


def _serve_ready(project: Path, *options: str) -> tuple[float, float]:
    """Seconds from starting ``loopml serve`` to ``/health`` answering 200, and the CPU
    seconds the server used by then (and while stopping)."""
    port = free_port()
    cpu = _children_cpu()
    start = time.perf_counter()
    process = subprocess.Popen(
        [str(LOOPML), "serve", MODEL_REF, "--port", str(port), *options, "--no-log", "-q"],
        cwd=project,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while time.perf_counter() - start < SERVE_TIMEOUT:
            if process.poll() is not None:
                raise SystemExit(f"loopml serve exited with {process.returncode}")
            if http_ok(f"http://{LOOPBACK}:{port}/health", timeout=0.5):
                seconds = time.perf_counter() - start
                process.terminate()
                process.wait(30)
                return seconds, _children_cpu() - cpu
            time.sleep(0.01)
        raise SystemExit("loopml serve did not become ready")
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(30)


def _holdout_rows(project: Path, target: Path) -> None:
    """The first 60 rows of the holdout CSV, without the label."""
    with (project / "data" / "breast_cancer_holdout.csv").open(encoding="utf-8") as source:
        rows = list(csv.reader(source))
    header = rows[0]
    keep = [i for i, name in enumerate(header) if name != "target"]
    with target.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        for row in rows[: ROWS + 1]:
            writer.writerow([row[i] for i in keep])


def _slowest_imports(project: Path, args: list[str], count: int = 10) -> list[list[Any]]:
    """The ``count`` top-level imports of ``loopml ARGS`` with the largest cumulative time."""
    command = [sys.executable, "-X", "importtime", str(LOOPML), *args]
    done = subprocess.run(
        command,
        cwd=project,
        env=_env(),
        capture_output=True,
        text=True,
    )
    found: list[tuple[int, str]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = line.split(":", 1)[1].split("|")
        if not name.startswith(" " * 3):  # top-level imports only (one leading space)
            found.append((int(cumulative), name.strip()))
    found.sort(reverse=True)
    return [[name, round(us / 1e6, 2)] for us, name in found[:count]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--project", type=Path, help="a quickstart project to reuse")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument("--label", default="", help="appended to the result file's name")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="loopml-startup-"))
    project = args.project or scratch / "project"
    if not (project / ".loopml").is_dir():
        print(f"building the quickstart project in {project} …", file=sys.stderr)
        subprocess.run([str(LOOPML), "quickstart", str(project), "--quiet"], env=_env(), check=True)
    rows, out = scratch / "rows.csv", scratch / "scores.csv"
    _holdout_rows(project, rows)
    _run(project, "pipeline", "run", "training")  # the cache is full from here on
    load_before = os.getloadavg()[0]
    predict = ["predict", MODEL_REF, "-i", str(rows), "-o", str(out), "-q"]
    onnx = _has_onnx(project, predict)
    commands: dict[str, Any] = {
        f"loopml predict ({ROWS} rows) --no-onnx": lambda: _run(project, *predict, "--no-onnx"),
        "loopml gate": lambda: _run(project, "gate", MODEL_REF),
        "loopml pipeline run (fully cached)": lambda: _run(project, "pipeline", "run", "training"),
        "loopml serve --no-onnx (to /health 200)": lambda: _serve_ready(project, "--no-onnx"),
    }
    if onnx:
        commands[f"loopml predict ({ROWS} rows), ONNX variant"] = lambda: _run(
            project, *predict, expect="(onnx)"
        )
        commands["loopml serve, ONNX variant (to /health 200)"] = lambda: _serve_ready(project)
    for module in FLOOR:
        command = [sys.executable, "-c", f"import {module}"]
        commands[f"floor: python -c 'import {module}'"] = lambda c=command: _timed(c, project)
    timings: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _round in range(args.repeat):  # commands take turns, so load drifts hit all alike
        for name, command in commands.items():
            wall, used = command()
            timings[name].append(wall)
            cpu[name].append(used)
    load_after = os.getloadavg()[0]
    table = []
    for name, seconds in timings.items():
        middle = statistics.median(seconds)
        verdict = "PASS" if middle <= GOAL_SECONDS else "MISS"
        goal = f"≤ {GOAL_SECONDS}"
        if name.startswith("floor"):  # not a command: what scikit-learn / the CLI cost alone
            goal, verdict = "—", ""
        spread = f"{min(seconds):.2f}–{max(seconds):.2f}"
        used = f"{statistics.median(cpu[name]):.2f}"
        table.append([name, f"{middle:.2f}", spread, used, goal, verdict])
    header = ["command", "median s", "range s", "CPU s", "goal s", ""]
    print(markdown_table([header, *table], {1, 2, 3}))
    print("(CPU s: user + system seconds of the command's process; on a busy machine it is")
    print(" closer to what the command would take alone than the wall time is)")
    print(f"\nload average: {load_before:.2f} before, {load_after:.2f} after")
    result: dict[str, Any] = {
        "timings": timings,
        "cpu_seconds": cpu,
        "load_average": [load_before, load_after],
        "machine": machine_info(None),
        "repeat": args.repeat,
    }
    if args.importtime:
        profiled = {
            "predict --no-onnx": [*predict, "--no-onnx"],
            "gate": ["gate", MODEL_REF],
            "pipeline run (fully cached)": ["pipeline", "run", "training"],
        }
        if onnx:
            profiled["predict, ONNX variant"] = predict
        result["slowest_imports"] = {}
        for name, command in profiled.items():
            slowest = _slowest_imports(project, command)
            print(f"\nslowest top-level imports of loopml {name} (cumulative s):")
            for module, seconds in slowest:
                print(f"  {seconds:6.2f}  {module}")
            result["slowest_imports"][name] = slowest
    stamp = dt.date.today().isoformat() + (f"-{args.label}" if args.label else "")
    target = HERE / "results" / f"startup-{stamp}.json"
    target.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"\nraw numbers: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
