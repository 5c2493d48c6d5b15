"""Tracking benchmarks: loopml beside MLflow, on this machine, in one run.

    .venv/bin/python benchmarks/run_tracking.py            # the real run (~20-30 min)
    .venv/bin/python benchmarks/run_tracking.py --quick    # a smoke run (~2 min)

MLflow is installed into its own virtualenv (``benchmarks/.venvs/mlflow``, created on first
use); each tool runs in its own process (``_mlflow_side.py`` / ``_loopml_side.py``) on a fresh
temporary folder per benchmark. Prints a table of both numbers, the ratio and the goal from
issue 2, and writes everything to ``benchmarks/results/tracking-<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _venvs import ensure_installed, venv_python

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
MLFLOW_VENV = HERE / ".venvs" / "mlflow"
# ``mlflow==3.*`` resolves to 3.18.0, whose ``mlflow-skinny==3.18.0`` is not on the package
# index this machine reaches, so pip falls back; pin the newest 3.x that installs here.
MLFLOW_SPEC = "mlflow==3.17.2"
RESULT_PREFIX = "BENCH_RESULT "
SIDE_TIMEOUT_S = 3600
TOOLS = ("mlflow", "loopml")
# repetitions alternate between the tools (see run_bench); the search corpus takes MLflow
# ~10 minutes to build, so that benchmark runs once per tool
ALTERNATED = frozenset(
    {"log_metric_embedded", "log_metric_server", "log_batch", "runs_created", "server_ready"}
)
POOLED_KEYS = ("seconds", "fresh_seconds", "restart_seconds", "fresh_idle_seconds")
BENCHES = (
    "log_metric_embedded",
    "log_metric_server",
    "log_batch",
    "runs_created",
    "search",
    "server_ready",
)

# sizes per benchmark and tool; MLflow gets fewer calls where it is slow (~225 metrics/s)
FULL: dict[str, dict[str, dict[str, Any]]] = {
    "log_metric_embedded": {"mlflow": {"n": 1000, "reps": 3}, "loopml": {"n": 100_000, "reps": 3}},
    "log_metric_server": {"mlflow": {"n": 300, "reps": 3}, "loopml": {"n": 100_000, "reps": 3}},
    "log_batch": {
        "mlflow": {"batch": 1000, "calls": 20, "reps": 3},
        "loopml": {"batch": 1000, "calls": 100, "reps": 3},
    },
    "runs_created": {"mlflow": {"n": 200, "reps": 3}, "loopml": {"n": 2000, "reps": 3}},
    "search": {
        tool: {"runs": 10_000, "max_results": 100, "repeats": 20, "setup_budget": 600}
        for tool in ("mlflow", "loopml")
    },
    "server_ready": {"mlflow": {"reps": 3}, "loopml": {"reps": 3}},
}
QUICK: dict[str, dict[str, dict[str, Any]]] = {
    "log_metric_embedded": {"mlflow": {"n": 100, "reps": 1}, "loopml": {"n": 5000, "reps": 1}},
    "log_metric_server": {"mlflow": {"n": 50, "reps": 1}, "loopml": {"n": 5000, "reps": 1}},
    "log_batch": {
        "mlflow": {"batch": 1000, "calls": 2, "reps": 1},
        "loopml": {"batch": 1000, "calls": 10, "reps": 1},
    },
    "runs_created": {"mlflow": {"n": 20, "reps": 1}, "loopml": {"n": 200, "reps": 1}},
    "search": {
        tool: {"runs": 500, "max_results": 100, "repeats": 5, "setup_budget": 60}
        for tool in ("mlflow", "loopml")
    },
    "server_ready": {"mlflow": {"reps": 1}, "loopml": {"reps": 1}},
}


# --- setting up MLflow ----------------------------------------------------------------------
def ensure_mlflow(spec: str) -> str:
    """Create ``benchmarks/.venvs/mlflow`` and install ``spec`` there unless it already has a
    matching MLflow; return the installed version."""
    return ensure_installed(MLFLOW_VENV, spec, "mlflow", option="--mlflow-spec 'mlflow==3.X.Y'")


# --- running one side -----------------------------------------------------------------------
def cpu_stall_us() -> int | None:
    """Microseconds, since boot, in which some runnable task waited for a CPU (Linux PSI).
    Other work on the machine shows up here; the report gives it per benchmark."""
    try:
        with open("/proc/pressure/cpu", encoding="utf-8") as pressure:
            first = pressure.readline()
    except OSError:
        return None
    return int(first.rsplit("total=", 1)[1])


def run_side(tool: str, bench: str, spec: dict[str, Any], keep: bool) -> dict[str, Any]:
    """Run one benchmark of one tool in its own process and fresh folder; its result dict
    (or ``{"error": ...}``)."""
    python = venv_python(MLFLOW_VENV) if tool == "mlflow" else Path(sys.executable)
    workdir = Path(tempfile.mkdtemp(prefix=f"loopml-bench-{tool}-{bench}-"))
    cmd = [str(python), str(HERE / f"_{tool}_side.py"), bench, "--workdir", str(workdir)]
    cmd += ["--spec", json.dumps(spec)]
    print(f"  {tool:<6} {bench} {json.dumps(spec)}", flush=True)
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    env.pop("LOOPML_SERVER_URL", None)
    start, stall_before = time.perf_counter(), cpu_stall_us()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        stdout, _ = proc.communicate(timeout=SIDE_TIMEOUT_S)
    except BaseException as exc:  # timeout, Ctrl-C: let the side stop its servers first
        proc.terminate()
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        if isinstance(exc, subprocess.TimeoutExpired):
            return {"error": f"timed out after {SIDE_TIMEOUT_S} s"}
        raise
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        return {"error": f"exit code {proc.returncode}; see the output above"}
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
    wall = time.perf_counter() - start
    result["wall_seconds"] = wall
    stall_after = cpu_stall_us()
    if stall_before is not None and stall_after is not None:
        result["cpu_pressure_pct"] = round(100 * (stall_after - stall_before) / 1e6 / wall, 1)
        print(f"    (CPU pressure during this benchmark: {result['cpu_pressure_pct']}%)")
    return result


def run_bench(bench: str, sizes: dict[str, dict[str, Any]], keep: bool) -> dict[str, Any]:
    """Both tools' results for ``bench``. Alternated benchmarks run one repetition per process
    and folder, taking turns (MLflow, loopml, loopml, MLflow, ...), so that load from elsewhere
    on the machine falls on both alike; their timings are then pooled."""
    if bench not in ALTERNATED:
        return {tool: run_side(tool, bench, sizes[tool], keep) for tool in TOOLS}
    parts: dict[str, list[dict[str, Any]]] = {tool: [] for tool in TOOLS}
    for rep in range(max(sizes[tool]["reps"] for tool in TOOLS)):
        for tool in TOOLS if rep % 2 == 0 else TOOLS[::-1]:
            parts[tool].append(run_side(tool, bench, {**sizes[tool], "reps": 1}, keep))
    return {tool: pool(parts[tool]) for tool in TOOLS}


def pool(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from single-repetition results: timings concatenated, medians recomputed."""
    errors = [part["error"] for part in parts if "error" in part]
    if errors:
        return {"error": errors[0]}
    pooled = dict(parts[0])
    for key in POOLED_KEYS:
        if key in pooled:
            pooled[key] = [x for part in parts for x in part[key]]
    if "seconds" in pooled and "n" in pooled:
        pooled["per_second"] = pooled["n"] / statistics.median(pooled["seconds"])
    for key in ("fresh", "restart"):
        if f"{key}_seconds" in pooled:
            pooled[f"{key}_median"] = statistics.median(pooled[f"{key}_seconds"])
    pooled["wall_seconds"] = sum(part["wall_seconds"] for part in parts)
    pooled["cpu_pressure_pct"] = [part.get("cpu_pressure_pct") for part in parts]
    return pooled


# --- the table ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One line of the table. ``higher_is_better`` decides which way the ratio is taken, so
    that it always reads "loopml is N× faster"."""

    name: str
    unit: str
    mlflow: float | None
    loopml: float | None
    higher_is_better: bool
    goal: str = "—"
    check: Callable[[float, float], bool] | None = None  # (ratio, loopml value) -> passed
    note: str = ""
    needs: tuple[str, ...] = ()  # benchmarks the row compares; shown only when all ran

    @property
    def ratio(self) -> float | None:
        if not self.mlflow or not self.loopml:
            return None
        return self.loopml / self.mlflow if self.higher_is_better else self.mlflow / self.loopml

    @property
    def verdict(self) -> str:
        if self.check is None:
            return ""
        if self.ratio is None or self.loopml is None:
            return "n/a"
        return "PASS" if self.check(self.ratio, self.loopml) else "MISS"


def value(results: dict[str, Any], bench: str, tool: str, key: str) -> float | None:
    found = results.get(bench, {}).get(tool, {}).get(key)
    return float(found) if isinstance(found, int | float) else None


def build_rows(results: dict[str, Any]) -> list[Row]:
    def v(bench: str, tool: str, key: str) -> float | None:
        return value(results, bench, tool, key)

    search_note = ""
    mlflow_runs = v("search", "mlflow", "runs")
    loopml_runs = v("search", "loopml", "runs")
    if mlflow_runs and loopml_runs and mlflow_runs < loopml_runs:
        search_note = f"MLflow searched {mlflow_runs:,.0f} runs (setup budget)"
    n_runs = f"{loopml_runs:,.0f}" if loopml_runs else "10,000"
    return [
        Row(
            "log_metric, one call at a time, embedded SQLite",
            "metrics/s",
            v("log_metric_embedded", "mlflow", "per_second"),
            v("log_metric_embedded", "loopml", "per_second"),
            True,
            "≥ 100×",
            lambda ratio, _: ratio >= 100,
        ),
        Row(
            "log_metric, one call at a time, through the server",
            "metrics/s",
            v("log_metric_server", "mlflow", "per_second"),
            v("log_metric_server", "loopml", "per_second"),
            True,
            "≥ 100×",
            lambda ratio, _: ratio >= 100,
        ),
        Row(
            "log_batch, 1,000 metrics per call, embedded",
            "metrics/s",
            v("log_batch", "mlflow", "per_second"),
            v("log_batch", "loopml", "per_second"),
            True,
        ),
        Row(
            "MLflow log_batch vs loopml log_metric × N + flush",
            "metrics/s",
            v("log_batch", "mlflow", "per_second"),
            v("log_metric_embedded", "loopml", "per_second"),
            True,
            needs=("log_batch", "log_metric_embedded"),
        ),
        Row(
            "runs created (start_run + end), embedded",
            "runs/s",
            v("runs_created", "mlflow", "per_second"),
            v("runs_created", "loopml", "per_second"),
            True,
            "≥ 10×",
            lambda ratio, _: ratio >= 10,
        ),
        Row(
            f"search, metric + param filter, {n_runs} runs, top 100",
            "ms",
            v("search", "mlflow", "median_ms"),
            v("search", "loopml", "median_ms"),
            False,
            "≤ 50 ms",
            lambda _, loopml: loopml <= 50,
            search_note,
        ),
        Row(
            "server ready (spawn → health 200), fresh store",
            "s",
            v("server_ready", "mlflow", "fresh_median"),
            v("server_ready", "loopml", "fresh_median"),
            False,
            "≤ 2 s",
            lambda _, loopml: loopml <= 2,
        ),
        Row(
            "server ready, existing store (restart)",
            "s",
            v("server_ready", "mlflow", "restart_median"),
            v("server_ready", "loopml", "restart_median"),
            False,
            "≤ 2 s",
            lambda _, loopml: loopml <= 2,
        ),
    ]


def fmt(number: float | None, unit: str) -> str:
    if number is None:
        return "error"
    if unit == "ms":
        return f"{number:,.1f} ms"
    if unit == "s":
        return f"{number:,.2f} s"
    return f"{number:,.0f}" if number >= 100 else f"{number:,.1f}"


def fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    return f"{ratio:,.0f}×" if ratio >= 10 else f"{ratio:,.1f}×"


def render_table(rows: list[Row]) -> str:
    """A GitHub-flavoured Markdown table (readable in a terminal as it is)."""
    header = ["benchmark", "unit", "MLflow", "loopml", "loopml faster by", "goal", "result"]
    lines = [header]
    for row in rows:
        name = f"{row.name} ({row.note})" if row.note else row.name
        lines.append(
            [
                name,
                row.unit,
                fmt(row.mlflow, row.unit),
                fmt(row.loopml, row.unit),
                fmt_ratio(row.ratio),
                row.goal,
                row.verdict,
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = {2, 3, 4}
    out = []
    for index, line in enumerate(lines):
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(line)
        ]
        out.append("| " + " | ".join(cells) + " |")
        if index == 0:
            rules = [
                "-" * (widths[i] - 1) + ":" if i in right else "-" * widths[i]
                for i in range(len(header))
            ]
            out.append("| " + " | ".join(rules) + " |")
    return "\n".join(out)


# --- the machine ----------------------------------------------------------------------------
def machine_info(mlflow_version: str | None) -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo", encoding="utf-8") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
                break
    loopml_version = subprocess.run(
        [sys.executable, "-c", "import loopml; print(loopml.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "src"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "mlflow": mlflow_version,
        "loopml": loopml_version,
        "loopml_commit": commit or None,
        "loopml_src_modified": bool(dirty),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def print_machine(info: dict[str, Any]) -> None:
    print(
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM, "
        f"{info['os']}; Python {info['python']}, SQLite {info['sqlite']}; "
        f"MLflow {info['mlflow']}, loopml {info['loopml']} "
        f"(commit {info['loopml_commit'] or 'none yet'}"
        f"{', src/ modified' if info['loopml_src_modified'] else ''}); "
        f"load average at start {info['load_average_at_start']}"
    )


# --- main -----------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark loopml tracking beside MLflow on this machine."
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument(
        "--only",
        default=",".join(BENCHES),
        help=f"comma-separated benchmarks to run (default: all of {', '.join(BENCHES)})",
    )
    parser.add_argument("--mlflow-spec", default=MLFLOW_SPEC, help="pip requirement for MLflow")
    parser.add_argument("--output", type=Path, help="where to write the JSON results")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args()
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(args.only) - set(BENCHES))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {BENCHES}")
    return args


def main() -> int:
    args = parse_args()
    # SIGTERM unwinds like Ctrl-C: the running side is asked to stop its servers first
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = QUICK if args.quick else FULL
    mlflow_version = ensure_mlflow(args.mlflow_spec)
    info = machine_info(mlflow_version)
    print_machine(info)
    started = dt.datetime.now(dt.UTC)
    results: dict[str, Any] = {}
    for bench in args.only:
        print(f"\n== {bench}", flush=True)
        results[bench] = run_bench(bench, sizes[bench], args.keep)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    rows = [
        row
        for row in build_rows(results)
        if (row.mlflow is not None or row.loopml is not None)
        and all(bench in results for bench in row.needs)
    ]
    table = render_table(rows)
    print()
    print_machine(info)
    print(f"Date: {started:%Y-%m-%d %H:%M} UTC{' (--quick sizes)' if args.quick else ''}\n")
    print(table)
    errors = [
        f"{bench}/{tool}: {res['error']}"
        for bench, by_tool in results.items()
        for tool, res in by_tool.items()
        if "error" in res
    ]
    for error in errors:
        print(f"ERROR {error}")
    output = args.output or RESULTS / (
        f"tracking-{started:%Y-%m-%d}{'-quick' if args.quick else ''}.json"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "date": started.isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": info,
        "mlflow_spec": args.mlflow_spec,
        "sizes": {bench: sizes[bench] for bench in args.only},
        "results": results,
        "table": [
            {
                "benchmark": row.name,
                "unit": row.unit,
                "mlflow": row.mlflow,
                "loopml": row.loopml,
                "loopml_faster_by": row.ratio,
                "goal": row.goal,
                "result": row.verdict,
                "note": row.note,
            }
            for row in rows
        ],
    }
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nResults written to {output}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
