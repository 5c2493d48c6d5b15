"""ZenML's side of ``run_pipelines.py`` (runs in ``benchmarks/.venvs/zenml``): the chain with
``@step`` / ``@pipeline``, caching on, run by the default stack's local orchestrator in the
repository of the working folder (``zenml init``)."""

from __future__ import annotations

from typing import Any

from _pipeline_side import Outcome, Side, main
from zenml import pipeline, step
from zenml.enums import ExecutionStatus


@step(enable_cache=True)
def increment(value: int) -> int:
    return value + 1


def build(steps: int, name: str) -> Any:
    @pipeline(name=name, enable_cache=True)
    def chain(seed: int = 0) -> int:
        value = increment(seed)
        for _ in range(steps - 1):
            value = increment(value)
        return value  # type: ignore[no-any-return]

    return chain


def execute(chain: Any, seed: int, session: None) -> Any:
    return chain.with_options(parameters={"seed": seed})()


def outcome(result: Any) -> Outcome:
    steps = list(result.steps.values())
    last = max(steps, key=lambda s: s.start_time)
    cached = sum(s.status == ExecutionStatus.CACHED for s in steps)
    return Outcome(value=int(last.output.load()), steps=len(steps), cached=cached)


if __name__ == "__main__":
    main(Side(build, execute, outcome))
