"""Batch scoring: ``loopml predict`` beside a plain pandas script, 1,000,000 rows x 30 columns.

    .venv/bin/python benchmarks/run_predict.py                 # 3 repetitions, ~6 min
    .venv/bin/python benchmarks/run_predict.py --repeat 1 --rows 100000

The data (``--rows`` x 30 float64 columns, standard normal, seeded) is written once to a
temporary folder as Parquet (pyarrow's defaults, what ``DataFrame.to_parquet`` gives) and as
CSV. Two models are fitted on 10,000 rows of the same distribution and registered in a fresh
loopml project: a LogisticRegression, and a 100-tree RandomForestClassifier registered with
``onnx=True``. The same fitted models are saved with joblib for the baseline, which is what a
user would otherwise run: ``pd.read_parquet`` (or ``read_csv``) + ``model.predict`` +
``predict_proba`` + ``to_parquet`` (or ``to_csv``) in one script — the same output columns as
loopml's (``prediction``, ``probability_0``, ``probability_1``).

Every command runs in its own process, timed whole (interpreter start, imports, model load,
reading, scoring, writing; loopml also records its run) with its peak resident memory taken
from ``getrusage(RUSAGE_CHILDREN)`` of a small wrapper process that runs only that command.
The "work" columns time the reading, scoring and writing alone (loopml as ``--json`` reports
it; the baseline from after its imports and model load), so fixed start-up costs show apart.
The sides take turns; medians are reported, the best in brackets. Off the clock, loopml's
predictions must equal the baseline's (the LogisticRegression exactly; the forest's ONNX
variant computes in float32, so a few labels may differ and are counted). Writes the table
and ``benchmarks/results/predict-<date>.json``; exit 1 if a command failed.
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
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _data_report import fmt_ratio
from _tables import markdown_table
from run_tracking import cpu_stall_us, machine_info

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
LOOPML = Path(sys.executable).with_name("loopml")
COLUMNS = 30
TRAIN_ROWS = 10_000
GOAL_SECONDS = 10.0  # issue 6: 1,000,000 rows x 30 columns in at most 10 s …
GOAL_PEAK_MB = 1024.0  # … with at most 1 GB of memory
TIMEOUT_S = 900

# runs one command and prints its peak RSS (KiB): the wrapper has no other children
MEASURE = (
    "import resource, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "seconds = time.perf_counter() - start\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(f'MEASURED {code} {seconds} {peak}', file=sys.stderr)\n"
)

BASELINE = textwrap.dedent(
    """\
    import json
    import sys
    import time

    import joblib
    import pandas as pd

    model_file, source, target = sys.argv[1:]
    model = joblib.load(model_file)
    started = time.perf_counter()  # imports done, model loaded: the work starts
    frame = pd.read_parquet(source) if source.endswith(".parquet") else pd.read_csv(source)
    features = frame.to_numpy()
    out = pd.DataFrame({"prediction": model.predict(features)})
    probabilities = model.predict_proba(features)
    for index, label in enumerate(model.classes_):
        out[f"probability_{label}"] = probabilities[:, index]
    if target.endswith(".parquet"):
        out.to_parquet(target, index=False)
    else:
        out.to_csv(target, index=False)
    print(json.dumps({"seconds": time.perf_counter() - started}))
    """
)


NO_ONNX = ("--no-onnx",)


@dataclass(frozen=True)
class Case:
    name: str
    model: str  # registered name, and <name>.joblib for the baseline
    source: str  # "parquet" or "csv"
    target: str
    loopml_args: tuple[str, ...] = ()


CASES = (
    Case("LogisticRegression, Parquet → Parquet", "lr", "parquet", "parquet"),
    Case("LogisticRegression, CSV → CSV", "lr", "csv", "csv"),
    Case("RandomForest(100), Parquet → Parquet, ONNX", "rf", "parquet", "parquet"),
    Case("RandomForest(100), Parquet → Parquet, --no-onnx", "rf", "parquet", "parquet", NO_ONNX),
)


@dataclass
class Measures:
    seconds: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)
    # the work alone: read, score, write (loopml: as it reports it; pandas: after the imports
    # and the model load)
    inner_seconds: list[float] = field(default_factory=list)
    cpu_pressure_pct: list[float | None] = field(default_factory=list)

    def median(self, key: str) -> float | None:
        values = getattr(self, key)
        return float(statistics.median(values)) if values else None

    def cell(self, key: str, digits: int = 2) -> str:
        values = getattr(self, key)
        if not values:
            return "n/a"
        best = min(values)
        text = f"{statistics.median(values):,.{digits}f}"
        return text + (f" ({best:,.{digits}f})" if len(values) > 1 else "")


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_mb: float
    stdout: str
    cpu_pressure_pct: float | None  # share of the time some task waited for a CPU


def measure(cmd: list[str], cwd: Path) -> Sample:
    """Run ``cmd`` timed whole, with its peak memory; RuntimeError if it failed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    stall = cpu_stall_us()
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *cmd],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    found = [line for line in done.stderr.splitlines() if line.startswith("MEASURED ")]
    if not found:
        raise RuntimeError(f"{' '.join(cmd)}: no measure\n{done.stderr[-3000:]}")
    code, seconds, peak_kib = found[-1].split()[1:]
    if int(code) != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {code}\n{done.stderr[-3000:]}")
    after = cpu_stall_us()
    pressure = None
    if stall is not None and after is not None:
        pressure = round(100 * (after - stall) / 1e6 / float(seconds), 1)
    return Sample(float(seconds), int(peak_kib) / 1024, done.stdout, pressure)


def prepare(folder: Path, rows: int) -> dict[str, Any]:
    """Write the data and the two models; returns what was made."""
    import joblib  # type: ignore[import-untyped]
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq
    from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    import loopml.models
    from loopml.core.config import init_project
    from loopml.tracking.client import Client

    rng = np.random.default_rng(6)
    weights = rng.standard_normal(COLUMNS)
    x = rng.standard_normal((rows, COLUMNS))
    table = pa.table({f"f{i}": x[:, i] for i in range(COLUMNS)})
    pq.write_table(table, folder / "rows.parquet")
    pa_csv.write_csv(table, folder / "rows.csv")
    del table
    train = rng.standard_normal((TRAIN_ROWS, COLUMNS))
    labels = (train @ weights + rng.normal(0, 2.0, TRAIN_ROWS) > 0).astype(int)
    models = {
        "lr": LogisticRegression(max_iter=1000).fit(train, labels),
        "rf": RandomForestClassifier(n_estimators=100, random_state=0).fit(train, labels),
    }
    config = init_project(folder / "project")
    with Client(config=config) as client:
        for name, model in models.items():
            loopml.models.register(name, model, input_example=train[:50], onnx=name == "rf",
                                   client=client)  # fmt: skip
            joblib.dump(model, folder / f"{name}.joblib")
    (folder / "baseline.py").write_text(BASELINE, encoding="utf-8")
    return {
        "rows": rows,
        "columns": COLUMNS,
        "parquet_bytes": (folder / "rows.parquet").stat().st_size,
        "parquet_row_groups": pq.ParquetFile(folder / "rows.parquet").num_row_groups,
        "csv_bytes": (folder / "rows.csv").stat().st_size,
    }


def run_loopml(case: Case, folder: Path) -> tuple[Sample, float]:
    out = folder / f"loopml.{case.target}"
    source = folder / f"rows.{case.source}"
    cmd = [str(LOOPML), "predict", f"{case.model}@1", "--input", str(source),
           "--output", str(out), "--json", *case.loopml_args]  # fmt: skip
    sample = measure(cmd, folder / "project")
    return sample, float(json.loads(sample.stdout)["seconds"])


def run_baseline(case: Case, folder: Path) -> tuple[Sample, float]:
    out = folder / f"baseline.{case.target}"
    cmd = [sys.executable, str(folder / "baseline.py"), str(folder / f"{case.model}.joblib"),
           str(folder / f"rows.{case.source}"), str(out)]  # fmt: skip
    sample = measure(cmd, folder)
    return sample, float(json.loads(sample.stdout)["seconds"])


def differences(case: Case, folder: Path) -> int:
    """How many predictions loopml's output and the baseline's disagree on."""
    import numpy as np
    import pandas as pd

    def read(path: Path) -> Any:
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)

    mine = read(folder / f"loopml.{case.target}")
    theirs = read(folder / f"baseline.{case.target}")
    if list(mine.columns) != list(theirs.columns) or len(mine) != len(theirs):
        raise RuntimeError(f"{case.name}: columns or rows differ: {list(mine.columns)}")
    return int(np.sum(mine["prediction"].to_numpy() != theirs["prediction"].to_numpy()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per command")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the input")
    parser.add_argument("--workdir", type=Path, help="where the temporary folder goes")
    parser.add_argument("--output", type=Path, help="where to write the JSON results")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    info = machine_info(None)
    print(f"Machine: {json.dumps(info)}", flush=True)
    started = dt.datetime.now(dt.UTC)
    folder = Path(tempfile.mkdtemp(prefix="loopml-bench-predict-", dir=args.workdir))
    results: dict[str, dict[str, Measures]] = {}
    mismatches: dict[str, int] = {}
    errors: list[str] = []
    data: dict[str, Any] = {}
    try:
        data = prepare(folder, args.rows)
        print(f"Data: {data}", flush=True)
        for case in CASES:
            sides = results[case.name] = {"loopml": Measures(), "pandas": Measures()}
            for rep in range(args.repeat):
                for side in ("loopml", "pandas") if rep % 2 == 0 else ("pandas", "loopml"):
                    try:
                        if side == "loopml":
                            sample, inner = run_loopml(case, folder)
                        else:
                            sample, inner = run_baseline(case, folder)
                        sides[side].inner_seconds.append(inner)
                    except (RuntimeError, subprocess.TimeoutExpired) as exc:
                        errors.append(f"{case.name} {side}: {exc}")
                        print(f"  ERROR {exc}", flush=True)
                        continue
                    sides[side].seconds.append(sample.seconds)
                    sides[side].peak_mb.append(sample.peak_mb)
                    sides[side].cpu_pressure_pct.append(sample.cpu_pressure_pct)
                    print(f"  {case.name} rep {rep + 1} {side:<6} {sample.seconds:6.2f} s "
                          f"{sample.peak_mb:7.0f} MiB, CPU pressure {sample.cpu_pressure_pct} %",
                          flush=True)  # fmt: skip
            try:
                mismatches[case.name] = differences(case, folder)
            except (RuntimeError, OSError) as exc:
                errors.append(str(exc))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]

    header = ["case", "loopml s", "pandas s", "pandas ÷ loopml", "loopml work s", "pandas work s"]
    lines = [[*header, "loopml peak MiB", "pandas peak MiB", "memory ratio", "labels differing"]]
    goal = [["case", "loopml s", "≤ 10 s", "loopml peak MiB", "≤ 1 GiB"]]
    for case in CASES:
        mine, theirs = results[case.name]["loopml"], results[case.name]["pandas"]
        speed = _ratio(theirs.median("seconds"), mine.median("seconds"))
        memory = _ratio(theirs.median("peak_mb"), mine.median("peak_mb"))
        lines.append([case.name, mine.cell("seconds"), theirs.cell("seconds"), fmt_ratio(speed),
                      mine.cell("inner_seconds"), theirs.cell("inner_seconds"),
                      mine.cell("peak_mb", 0),
                      theirs.cell("peak_mb", 0), fmt_ratio(memory),
                      str(mismatches.get(case.name, "n/a"))])  # fmt: skip
        seconds, peak = mine.median("seconds"), mine.median("peak_mb")
        goal.append([case.name, mine.cell("seconds"), _verdict(seconds, GOAL_SECONDS),
                     mine.cell("peak_mb", 0), _verdict(peak, GOAL_PEAK_MB)])  # fmt: skip
    print(
        f"\n{args.rows:,} rows x {COLUMNS} columns, {started:%Y-%m-%d %H:%M} UTC; medians of "
        f"{args.repeat}, the best in brackets; load average {info['load_average_at_start']} at "
        f"start, {info['load_average_at_end']} at the end\n"
    )
    print(markdown_table(lines, right=set(range(1, 10))))
    print("\n" + markdown_table(goal, right={1, 3}))
    for error in errors:
        print(f"ERROR {error}")
    output = args.output or RESULTS / f"predict-{started:%Y-%m-%d}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "date": started.isoformat(timespec="seconds"),
        "machine": info,
        "data": data,
        "repeat": args.repeat,
        "results": {
            name: {side: vars(values) for side, values in sides.items()}
            for name, sides in results.items()
        },
        "labels_differing": mismatches,
        "errors": errors,
    }
    output.write_text(json.dumps(document, indent=2), encoding="utf-8")
    print(f"raw numbers: {output}")
    return 1 if errors else 0


def _ratio(theirs: float | None, mine: float | None) -> float | None:
    return theirs / mine if theirs and mine else None


def _verdict(value: float | None, limit: float) -> str:
    return "error" if value is None else "PASS" if value <= limit else "MISS"


if __name__ == "__main__":
    sys.exit(main())
