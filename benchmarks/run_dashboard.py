"""The web dashboard's response times (issue 16): loopml's pages beside MLflow's UI calls, with
100,000 runs and 1,000,000 metric points in each store, in one run.

    .venv/bin/python benchmarks/run_dashboard.py                 # SQLite, both tools (~10 min)
    .venv/bin/python benchmarks/run_dashboard.py --quick         # 5,000 runs (~3 min)
    .venv/bin/python benchmarks/run_dashboard.py --tools loopml --postgres  # a local server

Each tool runs in its own process (``_loopml_dashboard_side.py`` in ``.venv``,
``_mlflow_dashboard_side.py`` in ``benchmarks/.venvs/mlflow``, created on first use) on a
fresh temporary folder: it loads the corpus (``_dashboard_corpus.py``) into its store, starts
its server on 127.0.0.1 and times each screen's requests over one keep-alive connection. A
loopml page not built yet (404) is reported as missing. Prints the table (medians, MLflow ÷
loopml, the goals, PASS/FAIL), the machine and its load, and writes
``benchmarks/results/dashboard-<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _postgres import postgres_database
from _tables import markdown_table
from _venvs import ensure_installed, venv_python

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
MLFLOW_VENV = HERE / ".venvs" / "mlflow"
MLFLOW_SPEC = "mlflow==3.17.2"  # as run_tracking.py (the newest 3.x that installs here)
RESULT_PREFIX = "BENCH_RESULT "
SIDE_TIMEOUT_S = 3600
FULL = {"runs": 100_000, "long_runs": 10, "long_steps": 10_000, "reps": 20}
QUICK = {"runs": 5_000, "long_runs": 10, "long_steps": 1_000, "reps": 5}
SERIES_POINTS = 1000  # what the run page asks /series for (pages/run.py, DEFAULT_POINTS)
COMPARE_POINTS = 500  # and the compare page, per curve (pages/compare.py, SERIES_POINTS)
FILTER = "metrics.auc > 0.9 and params.model = 'rf'"
# (measure, what it is for loopml, what it is for MLflow, goal in ms or None)
ROWS: tuple[tuple[str, str, str, float | None], ...] = (
    ("runs_page", "GET /ui/ (HTML, 50 runs)", "POST runs/search (100 runs)", 200),
    ("runs_page_experiment", "GET /ui/?experiment=… (HTML)", "—", 200),
    (
        "runs_sorted_metric",
        "/ui/?sort=metrics.auc&dir=desc",
        "runs/search by metrics.auc DESC",
        None,
    ),
    ("runs_filtered", f"/ui/?filter={FILTER}", "runs/search with that filter", None),
    ("run_page", "GET /ui/runs/{id} (HTML)", "GET runs/get", None),
    (
        "run_series",
        f"GET …/series?key=loss&points={SERIES_POINTS}",
        "bulk-interval (320 points)",
        200,
    ),
    ("run_history_full", "—", "get-history (10,000 points)", None),
    ("run_screen", "the run's HTML, then its series", "runs/get, then bulk-interval", None),
    ("compare", "GET /ui/compare?run=… ×10 (HTML)", "—", 300),
    (
        "compare_screen",
        f"the HTML + 2 keys × 10 runs of series ({COMPARE_POINTS}), one by one",
        "10 × runs/get + 2 keys × bulk-interval, one by one",
        None,
    ),
    (
        "compare_browser",
        "the same, the series 6 at a time (as a browser)",
        "the same, 6 at a time",
        300,
    ),
)


def run_side(tool: str, spec: dict[str, Any], keep: bool) -> dict[str, Any]:
    python = venv_python(MLFLOW_VENV) if tool == "mlflow" else Path(sys.executable)
    workdir = Path(tempfile.mkdtemp(prefix=f"loopml-bench-dashboard-{tool}-"))
    cmd = [str(python), str(HERE / f"_{tool}_dashboard_side.py"), "dashboard"]
    cmd += ["--workdir", str(workdir), "--spec", json.dumps(spec)]
    print(f"  {tool}: {json.dumps({k: v for k, v in spec.items() if k != 'store_uri'})}")
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    env.pop("LOOPML_SERVER_URL", None)
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        stdout, _ = proc.communicate(timeout=SIDE_TIMEOUT_S)
    except BaseException:  # timeout, Ctrl-C: let the side stop its server first
        proc.terminate()
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        raise
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        return {"error": f"exit code {proc.returncode}; see the output above"}
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
    return result


def table(results: dict[str, dict[str, Any]]) -> tuple[str, dict[str, str]]:
    """The Markdown table, and each goal's verdict."""

    def found(tool: str, name: str) -> dict[str, Any]:
        measures: dict[str, dict[str, Any]] = results.get(tool, {}).get("measures", {})
        return measures.get(name, {})

    def median(tool: str, name: str) -> float | None:
        value = found(tool, name).get("median_ms")
        return None if value is None else float(value)

    def cell(tool: str, name: str) -> str:
        result = found(tool, name)
        if "timeout_s" in result:
            return f"> {result['timeout_s'] * 1000:,.0f} (no answer)"
        if "median_ms" not in result:
            return "—"
        return f"{result['median_ms']:,.1f}" + (" (once)" if result.get("once") else "")

    def ratio(name: str) -> str:
        mine, other = median("loopml", name), median("mlflow", name)
        timeout = found("mlflow", name).get("timeout_s")
        if mine and timeout:
            return f"> {timeout * 1000 / mine:,.0f}×"
        return f"{other / mine:,.1f}×" if mine and other else "—"

    header = ["screen", "loopml request", "loopml ms", "MLflow request", "MLflow ms"]
    lines = [[*header, "MLflow ÷ loopml", "goal", "verdict"]]
    verdicts: dict[str, str] = {}
    for name, ours, theirs, goal in ROWS:
        mine = median("loopml", name)
        verdict = "—"
        if goal is not None:
            if mine is not None:
                verdict = "PASS" if mine <= goal else "FAIL"
            elif "missing" in found("loopml", name):
                verdict = "not built"
            verdicts[name] = verdict
        lines.append(
            [
                name,
                ours,
                cell("loopml", name),
                theirs,
                cell("mlflow", name),
                ratio(name),
                "—" if goal is None else f"≤ {goal:.0f} ms",
                verdict,
            ]
        )
    return markdown_table(lines, right={2, 4, 5}), verdicts


def load_line() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 runs, 5 repetitions")
    parser.add_argument("--tools", default="loopml,mlflow", help="loopml,mlflow or either")
    parser.add_argument("--runs", type=int, help="override the number of runs")
    parser.add_argument("--reps", type=int, help="timed repetitions of each screen")
    parser.add_argument(
        "--store-uri", help="loopml's store (an empty PostgreSQL database); default: SQLite"
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="loopml's store on a throwaway local PostgreSQL (Debian's binaries)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="loopml server's processes (default 1, its own)"
    )
    parser.add_argument("--mlflow-spec", default=MLFLOW_SPEC)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    parser.add_argument("--label", default="", help="suffix of the result file's name")
    args = parser.parse_args()
    spec: dict[str, Any] = {
        **(QUICK if args.quick else FULL),
        "series_points": SERIES_POINTS,
        "compare_points": COMPARE_POINTS,
    }
    if args.runs:
        spec["runs"] = args.runs
    if args.reps:
        spec["reps"] = args.reps
    loopml_spec = {**spec, "workers": args.workers}
    tools = [tool.strip() for tool in args.tools.split(",") if tool.strip()]
    if "mlflow" in tools:
        ensure_installed(MLFLOW_VENV, args.mlflow_spec, "mlflow", option="--mlflow-spec")
    before = load_line()
    print(f"load before: {before}", flush=True)
    started = time.time()
    results: dict[str, dict[str, Any]] = {}
    for tool in tools:
        if tool != "loopml":
            results[tool] = run_side(tool, spec, args.keep)
        elif args.postgres:
            with postgres_database() as uri:
                results[tool] = run_side(tool, {**loopml_spec, "store_uri": uri}, args.keep)
        else:
            side_spec = {**loopml_spec, "store_uri": args.store_uri}
            results[tool] = run_side(tool, side_spec, args.keep)
    after = load_line()
    text, verdicts = table(results)
    machine = (
        f"{platform.machine()}, {os.cpu_count()} CPUs (nproc), Python "
        f"{platform.python_version()}; load before: {before}; after: {after}"
    )
    print(f"\n{text}\n\nmachine: {machine}")
    for tool, result in results.items():
        if "error" in result:
            print(f"{tool}: {result['error']}")
        else:
            print(
                f"{tool} {result['version']} ({result['backend']}, "
                f"{result.get('workers', 'default')} server workers): {result['runs']:,} runs, "
                f"{result['points']:,} metric points, loaded in {result['load_seconds']:.1f} s"
            )
    RESULTS.mkdir(exist_ok=True)
    suffix = ("-quick" if args.quick else "") + (f"-{args.label}" if args.label else "")
    path = RESULTS / f"dashboard-{dt.date.today().isoformat()}{suffix}.json"
    document = {
        "started": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "spec": spec,
        "verdicts": verdicts,
        "results": results,
    }
    path.write_text(json.dumps(document, indent=1) + "\n")
    print(f"raw numbers: {path.relative_to(REPO)}")
    sys.exit(1 if any("error" in result for result in results.values()) else 0)


if __name__ == "__main__":
    main()
