"""Pipeline executor overhead: a trivial 20-step pipeline, cold and fully cached (issue 4).

    .venv/bin/python benchmarks/run_pipelines.py            # 5 repetitions of each
    .venv/bin/python benchmarks/run_pipelines.py --steps 50 --repeat 3

Every repetition runs in a fresh embedded project (SQLite + a local folder) in a temporary
folder; each step adds one to an int, so what is measured is loopml's own work per step: a
nested run with its params and tags, the cache lookup, storing and loading the output. "cold"
is the first run of the pipeline in the project; "cached" reruns it with the same params
(every step a cache hit). The Ray executor and tuning throughput are still to come.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import loopml
from loopml.core.config import init_project
from loopml.pipelines import run
from loopml.tracking.client import Client

GOAL_STEP_MS = 20.0
GOAL_CACHED_S = 0.5


@loopml.step
def increment(value: int, *, by: int = 1) -> int:
    return value + by


def make_chain(steps: int) -> loopml.pipelines.Pipeline:  # type: ignore[type-arg]
    @loopml.pipeline
    def chain(seed: int = 0) -> int:
        value = increment(seed)
        for _ in range(steps - 1):
            value = increment(value)
        return value

    return chain


def one_repetition(steps: int) -> tuple[float, float]:
    chain = make_chain(steps)
    with tempfile.TemporaryDirectory(prefix="loopml-bench-pipe-") as folder:
        config = init_project(Path(folder))
        with Client(config=config) as client:
            run(make_chain(1), client=client)  # store opened and warmed, imports done
            started = time.perf_counter()
            cold = run(chain, client=client)
            cold_s = time.perf_counter() - started
            started = time.perf_counter()
            cached = run(chain, client=client)
            cached_s = time.perf_counter() - started
            assert cold.value() == steps and all(step.cached for step in cached.steps.values())
    return cold_s, cached_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results = [one_repetition(args.steps) for _ in range(args.repeat)]
    cold = statistics.median(r[0] for r in results)
    cached = statistics.median(r[1] for r in results)
    per_step_ms = cold / args.steps * 1000
    print(f"{args.steps}-step pipeline, medians of {args.repeat} (best in brackets):")
    best_cold = min(r[0] for r in results) / args.steps * 1000
    verdict = "PASS" if per_step_ms <= GOAL_STEP_MS else "FAIL"
    print(
        f"  overhead per step, cold:  {per_step_ms:.1f} ms ({best_cold:.1f})"
        f"   goal ≤ {GOAL_STEP_MS:.0f} ms  {verdict}"
    )
    verdict = "PASS" if cached <= GOAL_CACHED_S else "FAIL"
    print(
        f"  fully cached re-run:      {cached:.3f} s ({min(r[1] for r in results):.3f})"
        f"   goal ≤ {GOAL_CACHED_S} s  {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
