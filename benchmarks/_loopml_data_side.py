"""The in-process loopml side of ``run_data.py``; runs inside the project's ``.venv``.

``status_api`` times ``loopml.data.status(NAME)`` in the project folder given as --workdir
(``import loopml.data`` happens before the clock starts). ``make_tables`` writes the profiling
table (``profile_table.make_table``) once as Parquet and CSV; ``profile`` times
``compute_profile(read_batches(...))`` on one of them, in a process of its own so that its peak
RSS is this profile's alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

from _harness import emit, log, median, parse_side_args, timed

import loopml
import loopml.data  # no pyarrow yet: status() pays for whatever it imports, as a user's would

BENCHES = ("status_api", "make_tables", "profile")


def as_json(value: Any) -> Any:
    """A status result as JSON-able data (its ``to_dict()`` where it has one)."""
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return json.loads(json.dumps(value, default=str))


def bench_status_api(workdir: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """The first ``loopml.data.status(name)`` of a fresh process, then ``calls`` more."""
    status = getattr(loopml.data, "status", None)
    if status is None:
        return {"available": False, "why": "loopml.data has no status() yet"}
    os.chdir(workdir)  # the project is found from the working folder, like the CLI's
    name = spec["name"]
    start = time.perf_counter()
    try:
        result = status(name)
    except loopml.LoopMLError as exc:  # e.g. the version does not record its source
        return {"available": True, "error": f"{type(exc).__name__}: {exc}"}
    first = time.perf_counter() - start
    warm = [timed(lambda: status(name)) for _ in range(spec["calls"])]
    log(f"loopml.data.status({name!r}): first {first:.3f} s, then median {median(warm):.3f} s")
    return {
        "available": True,
        "first_seconds": first,
        "warm_seconds": warm,
        "result": as_json(result),
    }


def bench_make_tables(workdir: Path, spec: dict[str, Any]) -> dict[str, Any]:
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq
    from profile_table import make_table

    start = time.perf_counter()
    table = make_table(spec["rows"])
    files = {"parquet": workdir / "table.parquet", "csv": workdir / "table.csv"}
    pq.write_table(table, files["parquet"])
    pa_csv.write_csv(table, files["csv"])
    log(f"{spec['rows']:,} rows written as Parquet and CSV in {time.perf_counter() - start:.1f} s")
    return {
        "rows": table.num_rows,
        "columns": table.num_columns,
        "arrow_bytes": table.nbytes,
        "files": {fmt: str(path) for fmt, path in files.items()},
        "file_bytes": {fmt: path.stat().st_size for fmt, path in files.items()},
    }


def bench_profile(workdir: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """``profile_table.measure`` without the tracemalloc pass, returning what it measured."""
    import pyarrow as pa
    from profile_table import _peak_rss_mib

    from loopml.data.profiling import compute_profile
    from loopml.data.tables import read_batches

    path, fmt = Path(spec["path"]), spec["format"]
    baseline = _peak_rss_mib()
    read_seconds = timed(lambda: sum(batch.num_rows for batch in read_batches(path)))
    seconds, cpu_seconds, rows = [], [], 0
    for _ in range(spec["repeats"]):
        start, cpu = time.perf_counter(), time.process_time()
        profile = compute_profile(read_batches(path), source_format=fmt)
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu)  # all threads; steadier when shared
        rows = profile.rows
    peak = _peak_rss_mib()
    data_mib = spec["arrow_bytes"] / 2**20
    log(
        f"{fmt}: profile median {median(seconds):.2f} s, peak RSS {peak:.0f} MiB "
        f"(+{peak - baseline:.0f} MiB over {baseline:.0f} after imports; data {data_mib:.0f} MiB)"
    )
    return {
        "format": fmt,
        "rows": rows,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "read_seconds": read_seconds,
        "peak_rss_mib": peak,
        "baseline_rss_mib": baseline,
        "arrow_pool_peak_mib": pa.default_memory_pool().max_memory() / 2**20,
        "data_mib": data_mib,
        "peak_over_data": (peak - baseline) / data_mib,
    }


def main() -> None:
    args = parse_side_args(BENCHES)
    result = globals()[f"bench_{args.bench}"](args.workdir, args.spec)
    emit({"tool": "loopml", "version": loopml.__version__, **result})


if __name__ == "__main__":
    main()
