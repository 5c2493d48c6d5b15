"""loopml's side of ``run_pipelines.py``: the chain with ``loopml.step`` / ``loopml.pipeline``,
run by the local executor in the project of the working folder (``loopml init``). A script
calls ``run(chain)``, which opens the project's stores and closes them after; in process, one
``Client`` is open for all the runs, as in ``run(chain, client=client)``."""

from __future__ import annotations

from _pipeline_side import Outcome, Side, main

from loopml.pipelines import Pipeline, PipelineRun, pipeline, run, step
from loopml.tracking.client import Client


@step
def increment(value: int, *, by: int = 1) -> int:
    return value + by


def build(steps: int, name: str) -> Pipeline[..., int]:
    def chain(seed: int = 0) -> int:
        value = increment(seed)
        for _ in range(steps - 1):
            value = increment(value)
        return value

    chain.__name__ = chain.__qualname__ = name
    return pipeline(chain)


def execute(chain: Pipeline[..., int], seed: int, client: Client | None) -> PipelineRun:
    return run(chain, params={"seed": seed}, client=client)


def outcome(result: PipelineRun) -> Outcome:
    cached = sum(step.cached for step in result.steps.values())
    return Outcome(value=int(result.value()), steps=len(result.steps), cached=cached)


if __name__ == "__main__":
    main(Side(build, execute, outcome, session=Client))
