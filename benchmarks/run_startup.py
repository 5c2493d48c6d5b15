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
- ``loopml gate breast-cancer@champion`` with the project's ``gates.yaml``: with ``--no-onnx``
  and as run by default (the ONNX variant);
- ``loopml pipeline run training``, fully cached (run once before timing);
- ``loopml serve breast-cancer@champion --no-log``, with ``--no-onnx`` and by default: from
  start to ``/health`` 200;
- the floor: ``python -c "import sklearn.linear_model"`` (scikit-learn alone: no command that
  builds a scikit-learn model can start faster) and ``python -c "import loopml.cli.main"``.

With ``--listing`` it times the listing commands instead (issue 18: ``loopml runs list`` on
1,000 runs ≤ 0.35 s): ``loopml --help``, ``--version``, ``runs list``, ``models list``, ``data
list`` and ``experiments list`` in a project of ``--runs`` runs (made with the library), each
command's CPU (user + system) and the number of modules it imported, medians over
``--repeat`` rounds (``.venv/bin/python benchmarks/run_startup.py --listing --repeat 10``).

With ``--before-src DIR`` each command also runs on the loopml source in DIR (``PYTHONPATH``,
e.g. another checkout's ``src``) in the same rounds, so "before" and "after" share the machine's
load; a source whose ``gate`` has no ``--no-onnx`` gates natively by default.

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


def _env(source: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    if source is not None:
        env["PYTHONPATH"] = source
    return env


def _children_cpu() -> float:
    """CPU seconds (user + system) of the child processes waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(
    project: Path, *args: str, expect: str = "", source: str | None = None
) -> tuple[float, float]:
    """Wall and CPU seconds ``loopml ARGS`` took in ``project`` (it must succeed and print
    ``expect``), on the loopml in ``source`` when given."""
    return _timed([str(LOOPML), *args], project, expect, source)


def _timed(
    command: list[str], project: Path, expect: str = "", source: str | None = None
) -> tuple[float, float]:
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(command, cwd=project, env=_env(source), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):  # gate exits 1 when a check fails: still a full run
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    if expect not in done.stdout:
        raise SystemExit(f"{' '.join(command)} did not print {expect!r}:\n{done.stdout}")
    return seconds, _children_cpu() - cpu


def _serve_ready(project: Path, *options: str, source: str | None = None) -> tuple[float, float]:
    """Seconds from starting ``loopml serve`` to ``/health`` answering 200, and the CPU
    seconds the server used by then (and while stopping)."""
    port = free_port()
    cpu = _children_cpu()
    start = time.perf_counter()
    process = subprocess.Popen(
        [str(LOOPML), "serve", MODEL_REF, "--port", str(port), *options, "--no-log", "-q"],
        cwd=project,
        env=_env(source),
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


def _gate_has_no_onnx(source: str | None) -> bool:
    done = subprocess.run(
        [str(LOOPML), "gate", "--help"], env=_env(source), capture_output=True, text=True
    )
    return "--no-onnx" in done.stdout


def _slowest_imports(
    project: Path, args: list[str], count: int = 10, source: str | None = None
) -> list[list[Any]]:
    """The ``count`` top-level imports of ``loopml ARGS`` with the largest cumulative time."""
    command = [sys.executable, "-X", "importtime", str(LOOPML), *args]
    done = subprocess.run(
        command,
        cwd=project,
        env=_env(source),
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


LISTING_GOAL_SECONDS = 0.35
LISTINGS = (
    ("--help",),
    ("--version",),
    ("runs", "list"),
    ("models", "list"),
    ("data", "list"),
    ("experiments", "list"),
)


def _listing_project(folder: Path, runs: int) -> None:
    """A project with ``runs`` finished runs (two params, a metric each), made in process."""
    from loopml.core.config import init_project
    from loopml.tracking.client import Client

    config = init_project(folder)
    with Client(config=config, create=False) as client:
        for i in range(runs):
            run = client.create_run("bench", name=f"run-{i}", capture_system_info=False)
            client.log_params(run.id, {"lr": i / runs, "model": "rf"})
            client.log_metric(run.id, "auc", i / runs, step=1)
            client.set_terminated(run.id)


def _modules_imported(project: Path, args: tuple[str, ...], source: str | None) -> int:
    env = {**_env(source), "PYTHONPROFILEIMPORTTIME": "1"}
    done = subprocess.run(
        [str(LOOPML), *args], cwd=project, env=env, capture_output=True, text=True
    )
    return sum(
        line.startswith("import time:") and "cumulative" not in line
        for line in done.stderr.splitlines()
    )


def listing_main(args: argparse.Namespace) -> int:
    """Time the listing commands (``--listing``): CPU seconds and modules imported."""
    if args.project is not None:
        return _time_listings(args, args.project)
    with tempfile.TemporaryDirectory(prefix="loopml-listing-") as scratch:
        return _time_listings(args, Path(scratch) / "project")


def _time_listings(args: argparse.Namespace, project: Path) -> int:
    if not (project / ".loopml").is_dir():
        print(f"making {args.runs} runs in {project} …", file=sys.stderr)
        project.mkdir(parents=True, exist_ok=True)
        _listing_project(project, args.runs)
    sources = (
        {"after": None}
        if args.before_src is None
        else {
            "before": args.before_src,
            "after": None,
        }
    )
    cpu: dict[str, dict[str, list[float]]] = {tag: {} for tag in sources}
    load_before = os.getloadavg()[0]
    for _round in range(args.repeat):  # commands and sources take turns: the same load
        for command in LISTINGS:
            for tag, src in sources.items():
                _wall, used = _run(project, *command, source=src)
                cpu[tag].setdefault(" ".join(command), []).append(used)
    load_after = os.getloadavg()[0]
    modules = {
        tag: {" ".join(c): _modules_imported(project, c, src) for c in LISTINGS}
        for tag, src in sources.items()
    }
    header = ["command (CPU s, median)"]
    for tag in sources:
        header += [f"{tag} CPU s", f"{tag} min", f"{tag} modules"]
    table = []
    for command in LISTINGS:
        name = " ".join(command)
        row = [f"loopml {name}"]
        for tag in sources:
            seconds = cpu[tag][name]
            row += [
                f"{statistics.median(seconds):.3f}",
                f"{min(seconds):.3f}",
                str(modules[tag][name]),
            ]
        table.append(row)
    print(markdown_table([header, *table], set(range(1, len(header)))))
    print(f"goal: loopml runs list ≤ {LISTING_GOAL_SECONDS} s on {args.runs} runs")
    print(f"load average: {load_before:.2f} before, {load_after:.2f} after")
    result = {
        "cpu_seconds": cpu,
        "modules_imported": modules,
        "runs": args.runs,
        "load_average": [load_before, load_after],
        "machine": machine_info(None),
        "repeat": args.repeat,
    }
    stamp = dt.date.today().isoformat() + (f"-{args.label}" if args.label else "")
    target = HERE / "results" / f"startup-listing-{stamp}.json"
    target.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"\nraw numbers: {target}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--project", type=Path, help="a quickstart project to reuse")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument("--label", default="", help="appended to the result file's name")
    parser.add_argument(
        "--before-src", help="also time the loopml source in this folder (PYTHONPATH)"
    )
    parser.add_argument("--listing", action="store_true", help="time the listing commands")
    parser.add_argument("--runs", type=int, default=1000, help="runs in the --listing project")
    args = parser.parse_args()
    if args.listing:
        return listing_main(args)
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
    commands: dict[str, Any] = {}
    sources = {"": None} if args.before_src is None else {"": None, "before: ": args.before_src}
    for tag, src in sources.items():
        native_gate = ["gate", MODEL_REF] + (["--no-onnx"] if _gate_has_no_onnx(src) else [])
        commands |= {
            f"{tag}loopml predict ({ROWS} rows) --no-onnx": lambda s=src: _run(
                project, *predict, "--no-onnx", source=s
            ),
            f"{tag}loopml gate --no-onnx": lambda s=src, g=native_gate: _run(project, *g, source=s),
            f"{tag}loopml pipeline run (fully cached)": lambda s=src: _run(
                project, "pipeline", "run", "training", source=s
            ),
            f"{tag}loopml serve --no-onnx (to /health 200)": lambda s=src: _serve_ready(
                project, "--no-onnx", source=s
            ),
        }
        if onnx:
            commands[f"{tag}loopml predict ({ROWS} rows), ONNX variant"] = lambda s=src: _run(
                project, *predict, expect="(onnx)", source=s
            )
            if len(native_gate) == 3:  # this source's gate scores the ONNX variant by default
                commands[f"{tag}loopml gate, ONNX variant"] = lambda s=src: _run(
                    project, "gate", MODEL_REF, expect="(onnx)", source=s
                )
            commands[f"{tag}loopml serve, ONNX variant (to /health 200)"] = lambda s=src: (
                _serve_ready(project, source=s)
            )
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
        gate_options = ["--no-onnx"] if _gate_has_no_onnx(None) else []
        profiled = {
            "predict --no-onnx": [*predict, "--no-onnx"],
            "gate --no-onnx": ["gate", MODEL_REF, *gate_options],
            "pipeline run (fully cached)": ["pipeline", "run", "training"],
        }
        if onnx:
            profiled["predict, ONNX variant"] = predict
            if gate_options:
                profiled["gate, ONNX variant"] = ["gate", MODEL_REF]
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
