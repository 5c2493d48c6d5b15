"""Time ``compute_profile(read_batches(...))`` on 1,000,000 rows × 25 columns (issue 3 goal:
≤ 3 s, peak memory ≤ 2× the table's in-memory size).

    .venv/bin/python benchmarks/profile_table.py [--rows N] [--csv] [--repeats N] [--dir DIR]

Columns: 15 float, 5 int, 3 low-cardinality string, 1 bool, 1 timestamp; 1% missing floats.
Each file is measured in a fresh process: median wall and CPU seconds (CPU time varies less
on a shared machine), peak RSS above the RSS after imports as a multiple of the table's size,
the Arrow memory pool's peak (Arrow's allocations are invisible to tracemalloc) and the Python
heap's peak (tracemalloc, measured on a separate, untimed run because tracing slows numpy
down).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from loopml.data.profiling import compute_profile
from loopml.data.tables import read_batches

T = TypeVar("T")


def make_table(rows: int) -> pa.Table:
    rng = np.random.default_rng(42)
    columns: dict[str, pa.Array] = {}
    for i in range(15):
        values = rng.normal(i, 1 + i, rows)
        mask = rng.random(rows) < 0.01
        columns[f"f{i}"] = pa.array(values, mask=mask)
    for i in range(5):
        columns[f"i{i}"] = pa.array(rng.integers(0, 10 ** (i + 1), rows))
    for i in range(3):
        labels = np.array([f"cat_{j}" for j in range(5 + 5 * i)])
        columns[f"s{i}"] = pa.array(labels[rng.integers(0, len(labels), rows)])
    columns["flag"] = pa.array(rng.random(rows) < 0.3)
    start = np.datetime64("2020-01-01T00:00:00", "us")
    offsets = rng.integers(0, 3 * 365 * 86_400_000_000, rows).astype("timedelta64[us]")
    columns["ts"] = pa.array(start + offsets)
    return pa.table(columns)


def measure(path: Path, label: str, table_bytes: int, repeats: int) -> None:
    """Run in a fresh process, so peak RSS and the Arrow pool's peak are this profile's."""
    baseline_rss = _peak_rss_mib()
    reads = [_timed(lambda: sum(b.num_rows for b in read_batches(path))) for _ in range(repeats)]
    profiles = [
        _timed(lambda: compute_profile(read_batches(path), source_format=label))
        for _ in range(repeats)
    ]
    rows, profile = reads[0][2], profiles[0][2]
    if profile.rows != rows:
        raise SystemExit(f"profiled {profile.rows} rows, read {rows}")
    peak_rss = _peak_rss_mib()
    tracemalloc.start()
    compute_profile(read_batches(path), source_format=label)
    _, python_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    arrow_peak = pa.default_memory_pool().max_memory() / 2**20
    table_mib = table_bytes / 2**20
    print(
        f"{label:8s} rows={rows:,}  read only {_median(reads)}  "
        f"profile {_median(profiles)} (goal <= 3 s)\n"
        f"{'':8s} peak RSS {peak_rss:.0f} MiB - {baseline_rss:.0f} MiB after imports = "
        f"{(peak_rss - baseline_rss) / table_mib:.2f}x the table in memory ({table_mib:.0f} MiB; "
        f"goal <= 2x)  Arrow pool peak {arrow_peak:.0f} MiB  "
        f"Python heap peak {python_peak / 2**20:.0f} MiB",
        flush=True,
    )


def _timed(run: Callable[[], T]) -> tuple[float, float, T]:
    """Wall and CPU seconds (all threads) of ``run()``, and its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def _median(runs: list[tuple[float, float, T]]) -> str:
    """Median wall time; the CPU time varies less on a shared machine, so it is shown too."""
    wall = statistics.median(run[0] for run in runs)
    cpu = statistics.median(run[1] for run in runs)
    return f"median {wall:.2f} s (CPU {cpu:.2f} s) of {len(runs)}"


def _peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM; ru_maxrss would include the parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--csv", action="store_true", help="also time the CSV file")
    parser.add_argument(
        "--dir", type=Path, help="write the files here and reuse them (default: a temp folder)"
    )
    parser.add_argument("--measure", nargs=3, metavar=("PATH", "FORMAT", "BYTES"))
    args = parser.parse_args()
    if args.measure:
        path, label, table_bytes = args.measure
        measure(Path(path), label, int(table_bytes), args.repeats)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dir or Path(tmp)
        table = make_table(args.rows)
        files = {"parquet": folder / f"table-{args.rows}.parquet"}
        if not files["parquet"].exists():
            pq.write_table(table, files["parquet"])
        if args.csv:
            files["csv"] = folder / f"table-{args.rows}.csv"
            if not files["csv"].exists():
                pa_csv.write_csv(table, files["csv"])
        for label, path in files.items():
            command = [sys.executable, __file__, "--measure", str(path), label]
            command += [str(table.nbytes), "--repeats", str(args.repeats)]
            subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
