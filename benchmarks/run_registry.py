"""Model registry: register + load a 100-tree random forest, loopml beside MLflow, in one run.

    .venv/bin/python benchmarks/run_registry.py                 # 5 repetitions, ~6 min
    .venv/bin/python benchmarks/run_registry.py --repeat 1 --variants skops

MLflow runs in its own virtualenv (``benchmarks/.venvs/mlflow``, the version pinned in
``run_tracking.py``, created on first use). Every repetition of every side is one process of
its own (``_loopml_registry_side.py`` / ``_mlflow_registry_side.py``) on a fresh temporary
folder, the sides taking turns. Inside the process each phase is timed alone, after the
imports: fitting the forest (the same recipe on both sides; not compared), importing the
tool, creating its store, registering the forest inside a run, loading it back; then both
check that the loaded model predicts exactly what the fitted one does (``_registry_side.py``).
The whole process is timed too. MLflow is run in up to three variants (see
``_mlflow_registry_side.py``). Prints the table, MLflow's time over loopml's and the goal of
issue 5 (register + load ≥ 5× faster), and writes every raw timing to
``benchmarks/results/registry-<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _data_report import fmt_ratio
from _tables import markdown_table
from _venvs import venv_python
from run_tracking import MLFLOW_SPEC, MLFLOW_VENV, cpu_stall_us, ensure_mlflow, machine_info

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
RESULT_PREFIX = "BENCH_RESULT "
SIDE_TIMEOUT_S = 600
MLFLOW_VARIANTS = ("skops", "cloudpickle", "pinned")
GOAL_RATIO = 5.0  # issue 5: register + load at least 5× faster than MLflow


@dataclass
class Side:
    """One side of the comparison: loopml, or MLflow in one variant, and its repetitions."""

    tool: str
    variant: str
    python: Path
    repetitions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return "loopml" if self.tool == "loopml" else f"MLflow {self.variant}"

    def run(self, folder: Path) -> dict[str, Any]:
        """One repetition in its own process on ``folder``; its result, timed whole."""
        script = HERE / f"_{self.tool}_registry_side.py"
        cmd = [str(self.python), str(script), "--workdir", str(folder), "--variant", self.variant]
        prefixes = ("LOOPML_", "MLFLOW_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
        env["PYTHONPATH"] = str(HERE)
        stall, start = cpu_stall_us(), time.perf_counter()
        done = subprocess.run(
            cmd,
            cwd=folder.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=SIDE_TIMEOUT_S,
            check=False,
        )
        wall = time.perf_counter() - start
        after = cpu_stall_us()
        found = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
        if done.returncode != 0 or not found:
            tail = (done.stdout + done.stderr)[-3000:]
            raise RuntimeError(f"{self.label}: exit code {done.returncode}:\n{tail}")
        result: dict[str, Any] = json.loads(found[-1][len(RESULT_PREFIX) :])
        result["process_seconds"] = wall
        if stall is not None and after is not None:
            result["cpu_pressure_pct"] = round(100 * (after - stall) / 1e6 / wall, 1)
        return result


# --- the table ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Measure:
    name: str
    value: Callable[[dict[str, Any]], float]  # seconds, from one repetition's result


def phase(name: str) -> Callable[[dict[str, Any]], float]:
    return lambda r: float(r["seconds"][name])


def both(suffix: str) -> Callable[[dict[str, Any]], float]:
    return lambda r: r["seconds"][f"register{suffix}"] + r["seconds"][f"load{suffix}"]


MEASURES = (
    Measure("register v1: start run, register with input example, end run", phase("register")),
    Measure("load v1 by name", phase("load")),
    Measure("register + load, first in the process", both("")),
    Measure("register v2, same process (imports done, store open)", phase("register_again")),
    Measure("load v2, same process", phase("load_again")),
    Measure("register + load, again in the same process", both("_again")),
    Measure("import the tool (in process)", phase("import")),
    Measure("create the store (fresh folder)", phase("store")),
    Measure("whole process (interpreter, imports, fit, all above)", lambda r: r["process_seconds"]),
)
GOAL_MEASURES = (
    "register + load, first in the process",
    "register + load, again in the same process",
)


def median(side: Side, measure: Measure) -> float | None:
    values = [measure.value(r) for r in side.repetitions]
    return float(statistics.median(values)) if values else None


def cell(side: Side, measure: Measure) -> str:
    values = [measure.value(r) for r in side.repetitions]
    if not values:
        return "n/a"
    return f"{statistics.median(values):.3f}" + (f" ({min(values):.3f})" if len(values) > 1 else "")


def ratio(side: Side, loopml: Side, measure: Measure) -> float | None:
    mine, base = median(side, measure), median(loopml, measure)
    return mine / base if mine and base else None


def table(sides: list[Side]) -> tuple[str, list[dict[str, Any]]]:
    """Seconds (median, best in brackets) per side and each MLflow variant's median over
    loopml's; and the same as JSON rows."""
    loopml, others = sides[0], sides[1:]
    header = ["measure (s)", "loopml"]
    for other in others:
        header += [other.label, "÷ loopml"]
    lines, rows = [header], []
    for measure in MEASURES:
        line = [measure.name, cell(loopml, measure)]
        row: dict[str, Any] = {"measure": measure.name, "loopml_median": median(loopml, measure)}
        for other in others:
            found = ratio(other, loopml, measure)
            row[f"mlflow_{other.variant}_median"] = median(other, measure)
            row[f"mlflow_{other.variant}_over_loopml"] = found
            line += [cell(other, measure), fmt_ratio(found)]
        lines.append(line)
        rows.append(row)
    return markdown_table(lines, right=set(range(1, len(header)))), rows


def verdicts(sides: list[Side]) -> tuple[str, list[dict[str, Any]]]:
    """The goal of issue 5 against each MLflow variant, on register + load both first in the
    process and again: PASS when MLflow's median is at least GOAL_RATIO times loopml's."""
    loopml = sides[0]
    lines = [["register + load", "against", "MLflow ÷ loopml", "goal", "result"]]
    rows = []
    for measure in (m for m in MEASURES if m.name in GOAL_MEASURES):
        for other in sides[1:]:
            found = ratio(other, loopml, measure)
            result = "error" if found is None else "PASS" if found >= GOAL_RATIO else "FAIL"
            when = measure.name.removeprefix("register + load, ")
            lines.append([when, other.label, fmt_ratio(found), f"≥ {GOAL_RATIO:g}×", result])
            rows.append(
                {
                    "measure": measure.name,
                    "against": other.variant,
                    "ratio": found,
                    "result": result,
                }
            )
    return markdown_table(lines, right={2}), rows


# --- main -----------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per side")
    parser.add_argument(
        "--variants",
        default=",".join(MLFLOW_VARIANTS),
        help="MLflow's, comma-separated: " + ",".join(MLFLOW_VARIANTS),
    )
    parser.add_argument("--mlflow-spec", default=MLFLOW_SPEC, help="pip requirement for MLflow")
    parser.add_argument("--workdir", type=Path, help="where the temporary folders go")
    parser.add_argument("--output", type=Path, help="where to write the JSON results")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args()
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(args.variants) - set(MLFLOW_VARIANTS))
    if unknown or not args.variants:
        parser.error(f"--variants: choose from {', '.join(MLFLOW_VARIANTS)}; got {unknown}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    info = machine_info(ensure_mlflow(args.mlflow_spec))
    print(f"Machine: {json.dumps(info)}", flush=True)
    mlflow_python = venv_python(MLFLOW_VENV)
    sides = [Side("loopml", "default", Path(sys.executable))]
    sides += [Side("mlflow", variant, mlflow_python) for variant in args.variants]
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="loopml-bench-registry-", dir=args.workdir))
    started = dt.datetime.now(dt.UTC)
    errors: list[str] = []
    try:
        for rep in range(args.repeat):
            for side in sides if rep % 2 == 0 else sides[::-1]:
                folder = root / f"{side.tool}-{side.variant}-{rep}"
                try:
                    result = side.run(folder)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    errors.append(f"{side.label} rep {rep}: {exc}")
                    print(f"  rep {rep + 1}: ERROR {exc}", flush=True)
                    continue
                finally:
                    if not args.keep:
                        shutil.rmtree(folder, ignore_errors=True)
                side.repetitions.append(result)
                shown = {k: round(v, 3) for k, v in result["seconds"].items()}
                print(
                    f"  rep {rep + 1}/{args.repeat} {side.label:<18} {shown} process "
                    f"{result['process_seconds']:.2f} s, CPU pressure "
                    f"{result.get('cpu_pressure_pct')} %",
                    flush=True,
                )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    text, rows = table(sides)
    goal_text, goal_rows = verdicts(sides)
    print(
        f"\n100-tree random forest, {started:%Y-%m-%d %H:%M} UTC; medians of {args.repeat} "
        f"repetitions, the best in brackets; load average {info['load_average_at_start']} at "
        f"start, {info['load_average_at_end']} at the end\n"
    )
    print(text + "\n\n" + goal_text)
    for error in errors:
        print(f"ERROR {error}")
    output = args.output or RESULTS / f"registry-{started:%Y-%m-%d}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "date": started.isoformat(timespec="seconds"),
        "repeat": args.repeat,
        "machine": info,
        "mlflow_spec": args.mlflow_spec,
        "results": {s.label: s.repetitions for s in sides},
        "errors": errors,
        "table": rows,
        "goal": goal_rows,
    }
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nResults written to {output}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
