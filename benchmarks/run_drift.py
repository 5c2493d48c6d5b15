"""Drift detection benchmark: ``loopml monitor drift`` beside Evidently and NannyML, one run.

    .venv/bin/python benchmarks/run_drift.py                 # 1,000,000 rows x 25 columns
    .venv/bin/python benchmarks/run_drift.py --quick         # 100,000 rows
    .venv/bin/python benchmarks/run_drift.py --tools loopml,evidently --repeat 3

Evidently (``evidently==0.7.*``) and NannyML (``nannyml==0.13.*``) are installed into their
own virtualenvs (``benchmarks/.venvs/evidently``, ``.venvs/nannyml``) on first use.

Method:

- The data: a reference and a current table of ``--rows`` rows, 20 numeric columns (normal,
  various means and spreads) and 5 string categoricals (4 to 20 categories), written once as
  Parquet. The current table moves 4 numeric columns by 0.3 standard deviations and changes
  the shares of one categorical: exactly ``f0..f3`` and ``c0`` drifted, which every tool's
  answer is checked against (reported, not enforced: the tools use different tests).
- loopml is timed as a user runs it: the wall time of ``loopml monitor drift -r ref.parquet
  -c cur.parquet --json``, interpreter start, imports and reading the files included.
- Evidently: ``Report([DataDriftPreset()]).run(...)`` on the two pandas frames (with a
  ``DataDefinition`` naming the numeric and categorical columns), read before the clock
  starts; NannyML: ``UnivariateDriftCalculator`` (default methods: Jensen–Shannon) fit on the
  reference and calculated on the current frame, 10 chunks each (its thresholds come from
  the reference's chunks; a column counts as flagged when any chunk is), read before the
  clock too;
  "scipy": the bare baseline, ``scipy.stats.ks_2samp`` and a NumPy PSI per column on
  arrays already in memory. So the peers' times leave out what loopml's include.
- loopml first runs once untimed, so that Python's bytecode caches exist as they do in the
  peers' pip-installed venvs (this venv is made by uv, which does not compile them).
- Peak memory is each process's peak resident set size (``ru_maxrss`` from ``wait4``): the
  whole job, frames included, for every tool.
- Each tool runs in its own process, one after another; the load average and the CPU
  pressure (``/proc/pressure/cpu``) during each run are recorded in the JSON.

Output: a table (seconds, peak MiB, what was flagged, Evidently ÷ tool), the goals of issue
14 (≥ 50× faster than Evidently at 1,000,000 rows with ≤ ⅓ of its peak memory), and
``benchmarks/results/drift-<date>.json`` (``-quick`` for ``--quick``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _tables import markdown_table
from _venvs import VENVS, ensure_installed, venv_python
from run_tracking import cpu_stall_us, machine_info

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
LOOPML = Path(sys.executable).parent / "loopml"
RESULT_PREFIX = "BENCH_RESULT "
EVIDENTLY_SPEC = "evidently==0.7.*"
NANNYML_SPEC = "nannyml==0.13.*"
# evidently 0.7 imports a pandas helper that pandas 3 removed; nannyml imports statsmodels
# without declaring it
EXTRA = {"evidently": ("pandas<3",), "nannyml": ("pandas<3", "statsmodels")}
NUMERIC = [f"f{i}" for i in range(20)]
CATEGORICAL = [f"c{i}" for i in range(5)]
DRIFTED = ["c0", "f0", "f1", "f2", "f3"]
TOOLS = ("loopml", "evidently", "nannyml", "scipy")


def make_tables(rows: int, folder: Path) -> tuple[Path, Path]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(14)
    paths = []
    for side in ("reference", "current"):
        columns: dict[str, Any] = {}
        for i, name in enumerate(NUMERIC):
            mean, spread = float(i), 1.0 + i % 5
            shift = 0.3 * spread if side == "current" and i < 4 else 0.0
            columns[name] = rng.normal(mean + shift, spread, rows)
        for i, name in enumerate(CATEGORICAL):
            labels = np.array([f"cat_{j}" for j in range(4 + 4 * i)])
            shares = np.linspace(1.0, 2.0, len(labels))
            if side == "current" and i == 0:
                shares = shares[::-1] ** 3
            choice = rng.choice(len(labels), rows, p=shares / shares.sum())
            columns[name] = pa.array(labels[choice])
        path = folder / f"{side}.parquet"
        pq.write_table(pa.table(columns), path)
        paths.append(path)
    return paths[0], paths[1]


def run_measured(cmd: list[str], *, expect: tuple[int, ...]) -> dict[str, Any]:
    """Run ``cmd``; wall seconds, peak RSS (MiB), stdout, CPU pressure and load around it."""
    load_before = os.getloadavg()[0]
    stall = cpu_stall_us()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
        seconds = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    peak_kib = usage.ru_maxrss
    after = cpu_stall_us()
    if code not in expect:
        raise RuntimeError(f"{' '.join(cmd[:4])} … exit {code}:\n{stderr[-3000:]}")
    pressure = None
    if stall is not None and after is not None:
        pressure = round(100 * (after - stall) / 1e6 / seconds, 1)
    return {
        "wall_seconds": seconds,
        "peak_mib": peak_kib / 1024,
        "stdout": stdout,
        "cpu_pressure_pct": pressure,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
    }


def run_loopml(reference: Path, current: Path) -> dict[str, Any]:
    cmd = [str(LOOPML), "monitor", "drift", "-r", str(reference), "-c", str(current), "--json"]
    measured = run_measured(cmd, expect=(0, 1))
    report = json.loads(measured.pop("stdout"))
    methods = sorted({c["method"] for c in report["features"]})
    return {
        **measured,
        "seconds": measured["wall_seconds"],
        "drifted": sorted(report["drifted_features"]),
        "methods": methods,
        "command": "loopml monitor drift -r reference.parquet -c current.parquet --json",
    }


def warm_up(reference: Path, current: Path) -> None:
    """One untimed run that writes Python's bytecode caches of loopml and its dependencies
    (pip compiles them at install, as the peers' venvs were; uv and PYTHONDONTWRITEBYTECODE
    do not), so no timed run compiles source."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cmd = [str(LOOPML), "monitor", "drift", "-r", str(reference), "-c", str(current), "--json"]
    subprocess.run(cmd, env=env, capture_output=True, check=False)


def run_peer(tool: str, reference: Path, current: Path) -> dict[str, Any]:
    python = sys.executable if tool == "scipy" else str(venv_python(VENVS / tool))
    spec = json.dumps({"numeric": NUMERIC, "categorical": CATEGORICAL})
    cmd = [python, str(HERE / "_drift_side.py"), tool, "--reference", str(reference)]
    cmd += ["--current", str(current), "--spec", spec]
    measured = run_measured(cmd, expect=(0,))
    lines = [line for line in measured.pop("stdout").splitlines() if line.startswith(RESULT_PREFIX)]
    if not lines:
        raise RuntimeError(f"_drift_side.py {tool} printed no result")
    return {**measured, **json.loads(lines[-1][len(RESULT_PREFIX) :])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--repeat", type=int, default=1, help="runs of loopml (median kept)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--evidently-spec", default=EVIDENTLY_SPEC)
    parser.add_argument("--nannyml-spec", default=NANNYML_SPEC)
    args = parser.parse_args()
    rows = 100_000 if args.quick else args.rows
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    versions = {}
    if "evidently" in tools:
        versions["evidently"] = ensure_installed(
            VENVS / "evidently",
            args.evidently_spec,
            "evidently",
            option="--evidently-spec",
            also=EXTRA["evidently"],
        )
    if "nannyml" in tools:
        versions["nannyml"] = ensure_installed(
            VENVS / "nannyml",
            args.nannyml_spec,
            "nannyml",
            option="--nannyml-spec",
            also=EXTRA["nannyml"],
        )
    machine = machine_info(None)
    machine.pop("mlflow", None)
    machine.pop("sqlite", None)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="loopml-bench-drift-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    try:
        print(f"Writing {rows:,} x 25 reference and current tables to {workdir} ...", flush=True)
        reference, current = make_tables(rows, workdir)
        for tool in tools:
            print(f"  {tool} ...", flush=True)
            if tool == "loopml":
                warm_up(reference, current)
                reps = [run_loopml(reference, current) for _ in range(args.repeat)]
                best = sorted(reps, key=lambda r: r["seconds"])[len(reps) // 2]
                results[tool] = {
                    **best,
                    "repetitions": reps,
                    "median_seconds": statistics.median(r["seconds"] for r in reps),
                }
            else:
                results[tool] = run_peer(tool, reference, current)
            got = results[tool]
            print(
                f"    {got['seconds']:.2f} s, peak {got['peak_mib']:.0f} MiB, "
                f"flagged {got['drifted']}",
                flush=True,
            )
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    report(rows, results, machine, versions, quick=args.quick, argv=sys.argv[1:])


def report(
    rows: int,
    results: dict[str, Any],
    machine: dict[str, Any],
    versions: dict[str, str],
    *,
    quick: bool,
    argv: list[str],
) -> None:
    evidently = results.get("evidently")
    lines = [["tool", "seconds", "peak MiB", "flagged the 5 drifted columns", "Evidently ÷ tool"]]
    for tool, got in results.items():
        ratio = f"{evidently['seconds'] / got['seconds']:.1f}×" if evidently else "—"
        right = "yes" if got["drifted"] == DRIFTED else f"no: {got['drifted']}"
        lines.append([tool, f"{got['seconds']:.2f}", f"{got['peak_mib']:.0f}", right, ratio])
    print()
    print(markdown_table(lines, right={1, 2, 4}))
    goals = {}
    if evidently and "loopml" in results:
        loop = results["loopml"]
        speed = evidently["seconds"] / loop["seconds"]
        memory = loop["peak_mib"] / evidently["peak_mib"]
        goals = {
            "speed_ratio": speed,
            "speed_goal": 50.0,
            "speed_pass": speed >= 50.0,
            "memory_share": memory,
            "memory_goal": 1 / 3,
            "memory_pass": memory <= 1 / 3,
        }
        print(
            f"\nGoal (issue 14, at 1,000,000 rows): >= 50x faster than Evidently: {speed:.1f}x "
            f"{'PASS' if speed >= 50 else 'MISS'}; <= 1/3 of its peak memory: "
            f"{memory:.2f} {'PASS' if memory <= 1 / 3 else 'MISS'}"
        )
    print(
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gib']} GiB RAM; "
        f"loopml {machine['loopml']} (commit {machine['loopml_commit']}); "
        f"load average now {os.getloadavg()}"
    )
    RESULTS.mkdir(exist_ok=True)
    name = f"drift-{dt.date.today().isoformat()}{'-quick' if quick else ''}.json"
    document = {
        "rows": rows,
        "columns": {"numeric": NUMERIC, "categorical": CATEGORICAL, "drifted": DRIFTED},
        "command": "benchmarks/run_drift.py " + " ".join(argv),
        "machine": machine,
        "versions": versions,
        "results": results,
        "goals": goals,
    }
    (RESULTS / name).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"Saved benchmarks/results/{name}")


if __name__ == "__main__":
    main()
