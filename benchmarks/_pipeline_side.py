"""What the Python-defined pipeline sides of ``run_pipelines.py`` share (loopml's, ZenML's).
Standard library only: each side imports it inside its own tool's virtualenv.

A side is called as ``python _<tool>_pipeline_side.py MODE --steps N`` in a project folder
its tool was initialised in, and prints one ``BENCH_RESULT {json}`` line (``_harness.emit``):

- ``define``: import the tool and define the chain, run nothing (the command's fixed cost);
- ``run``: run the chain once, as a user's script does (run twice: cold, then cached);
- ``inprocess``: with one session open (loopml: a ``Client``; ZenML keeps its own), a 1-step
  chain first (imports done, store open; a seed no later step sees, so nothing of it is a
  cache hit later), then the chain cold and again, each on the clock.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from typing import Any, Generic, TypeVar

from _harness import emit

Chain = TypeVar("Chain")
Result = TypeVar("Result")
WARM_UP_SEED = -1000
MODES = ("define", "run", "inprocess")


@dataclass(frozen=True)
class Outcome:
    """What one run of a chain gave: the last step's value, and how many step calls there
    were and how many of them were cache hits."""

    value: int
    steps: int
    cached: int


@dataclass(frozen=True)
class Side(Generic[Chain, Result]):
    """A tool's primitives: ``build(steps, name)`` defines a chain pipeline of ``steps``
    increments named ``name``; ``execute(chain, seed, session)`` runs it (on the clock) in
    ``session`` (None: as a user's script does); ``outcome(result)`` reads what the run gave
    (off the clock: it loads the output); ``session()`` opens what ``inprocess`` runs in."""

    build: Callable[[int, str], Chain]
    execute: Callable[[Chain, int, Any], Result]
    outcome: Callable[[Result], Outcome]
    session: Callable[[], AbstractContextManager[Any]] = nullcontext


def timed_run(
    side: Side[Chain, Result], chain: Chain, seed: int, session: Any = None
) -> tuple[float, Outcome]:
    start = time.perf_counter()
    result = side.execute(chain, seed, session)
    seconds = time.perf_counter() - start
    return seconds, side.outcome(result)


def main(side: Side[Chain, Result]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    chain = side.build(args.steps, "chain")
    if args.mode == "define":
        emit({"steps": args.steps})
    elif args.mode == "run":
        seconds, outcome = timed_run(side, chain, 0)
        emit({"run_seconds": seconds, **asdict(outcome)})
    else:
        with side.session() as session:
            side.execute(side.build(1, "warm_up"), WARM_UP_SEED, session)
            cold_s, cold = timed_run(side, chain, 0, session)
            cached_s, cached = timed_run(side, chain, 0, session)
        emit(
            {
                "cold_seconds": cold_s,
                "cached_seconds": cached_s,
                "cold": asdict(cold),
                "cached": asdict(cached),
            }
        )
