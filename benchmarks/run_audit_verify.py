"""``loopml audit verify`` over a large audit log (issue 15's goal: 1,000,000 events ≤ 5 s).

    .venv/bin/python benchmarks/run_audit_verify.py                 # 1,000,000 events, SQLite
    .venv/bin/python benchmarks/run_audit_verify.py --events 100000 # a quicker run
    .venv/bin/python benchmarks/run_audit_verify.py --store-uri postgresql+psycopg://…/db

Method:

- A store (a SQLite file in a temporary folder or at ``--sqlite-file``, kept for the next
  run, or the PostgreSQL database ``--store-uri`` names) is filled, unless it holds that many
  already, with ``--events`` chained events shaped like a server's (a run's batch: actor,
  action, a run target, a request id, a small payload), hashed exactly as the store hashes
  them, and written in bulk (not timed: appending through the store is
  one transaction per change, which is the tracking benchmark's business).
- Timed: :func:`loopml.tracking.audit_log.verify_log` on a newly opened store, which is what
  ``loopml audit verify`` runs (the command adds its interpreter start, ~0.3 s). Repeated
  ``--repeat`` times; the median is reported, with the first (cold) run apart. CPU time is
  this process's and its children's (a log of 100,000 entries or more is walked as two
  halves at once, one in a forked process), so on a loaded machine it says what wall time
  two idle cores would give: about half of it.
- ``--profile`` prints where the time goes (cProfile, top 15 by cumulative time).

Output: a table and ``benchmarks/results/audit-verify-<date>.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from loopml.core.audit_chain import GENESIS, canonical_json, chain_hash, digest_of, entry_text
from loopml.stores.metadata.sql import SqlMetadataStore
from loopml.stores.metadata.sql.schema import events
from loopml.tracking.audit_log import verify_log

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
GOAL_S = 5.0
BATCH = 20_000


def fill(uri: str, count: int) -> None:
    """``count`` chained events, written in bulk straight into the store's table."""
    store = SqlMetadataStore(uri)  # migrates the schema
    engine = store._engine  # the benchmark writes the rows itself
    prev, start = GENESIS, 1_796_000_000_000
    rows: list[dict[str, object]] = []
    with engine.begin() as conn:
        for seq in range(1, count + 1):
            payload = {"metrics": 3, "params": ["lr"], "tags": [], "batch_id": f"b{seq}"}
            payload_json = canonical_json(payload)
            after = digest_of(payload)
            target, request_id = f"run:{seq % 5000:032x}", f"{seq:032x}"
            fields = (seq, start + seq, "alice", "run.log_batch", target, request_id)
            digest = chain_hash(prev, entry_text(*fields, "", after, payload_json))
            rows.append(
                {
                    "seq": seq,
                    "timestamp": start + seq,
                    "actor": "alice",
                    "action": "run.log_batch",
                    "target": target,
                    "request_id": request_id,
                    "before_digest": "",
                    "after_digest": after,
                    "payload": payload_json,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            prev = digest
            if len(rows) == BATCH:
                conn.execute(sa.insert(events), rows)
                rows.clear()
        if rows:
            conn.execute(sa.insert(events), rows)
    store.close()


def verify_once(uri: str, *, profile: bool = False) -> tuple[float, float]:
    """Wall and CPU seconds of one verification, the CPU of the process it forks to walk
    the log's second half included (on a shared machine the CPU time is the steadier)."""
    with SqlMetadataStore(uri) as store:
        profiler = cProfile.Profile() if profile else None
        started, cpu = time.perf_counter(), _cpu_with_children()
        if profiler is not None:
            profiler.enable()
        report = verify_log(store)
        if profiler is not None:
            profiler.disable()
        elapsed = time.perf_counter() - started, _cpu_with_children() - cpu
    if not report.ok:
        raise SystemExit(f"the benchmark's own log does not verify: {report.problem}")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(15)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--store-uri", help="a PostgreSQL database, empty or filled before (default: SQLite)"
    )
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--sqlite-file", type=Path, help="fill this SQLite file once and keep it for next runs"
    )
    args = parser.parse_args()
    # beside the script, not in the system temp folder (a test run there counts leftovers)
    with tempfile.TemporaryDirectory(prefix=".audit-bench-", dir=HERE) as folder:
        kept = None if args.store_uri else args.sqlite_file
        uri = args.store_uri or f"sqlite:///{kept or Path(folder) / 'loopml.db'}"
        if _event_count(uri) != args.events:  # a kept file or a database filled before
            started = time.perf_counter()
            fill(uri, args.events)
            filled_s = time.perf_counter() - started
            print(f"filled {args.events:,} events in {filled_s:.1f} s", file=sys.stderr)
        load = os.getloadavg()[0]
        cold = verify_once(uri, profile=args.profile)
        warm = [verify_once(uri) for _ in range(args.repeat)]
    backend = "postgresql" if args.store_uri else "sqlite"
    median = statistics.median(wall for wall, _ in warm)
    median_cpu = statistics.median(cpu for _, cpu in warm)
    goal = GOAL_S * args.events / 1_000_000
    verdict = "PASS" if median <= goal else "FAIL"
    print(f"| audit verify | {backend} | {args.events:,} events | cold {cold[0]:.2f} s | "
          f"median {median:.2f} s (CPU {median_cpu:.2f} s) | goal ≤ {goal:.2f} s | {verdict} |"
          f" calibration {calibration():.3f} s CPU | load {load:.1f} |")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"audit-verify-{dt.date.today().isoformat()}.json"
    out.write_text(
        json.dumps(
            {
                "events": args.events,
                "backend": backend,
                "cold_s": cold[0],
                "runs_s": [wall for wall, _ in warm],
                "runs_cpu_s": [cpu for _, cpu in warm],
                "median_s": median,
                "median_cpu_s": median_cpu,
                "calibration_cpu_s": calibration(),
                "load_average_1min": load,
                "goal_s": GOAL_S,
                "python": platform.python_version(),
                "sqlite": sa.__version__ if backend != "sqlite" else _sqlite_version(),
            },
            indent=2,
        )
        + "\n"
    )


def _event_count(uri: str) -> int:
    with SqlMetadataStore(uri) as store, store._engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one())


def _cpu_with_children() -> float:
    used = os.times()
    return used.user + used.system + used.children_user + used.children_system


def calibration() -> float:
    """CPU seconds of ``sum(range(10**7))``: ~0.1 s on an idle current machine, so a ratio
    says how much slower this machine was while measuring."""
    started = time.process_time()
    sum(range(10**7))
    return time.process_time() - started


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


if __name__ == "__main__":
    main()
