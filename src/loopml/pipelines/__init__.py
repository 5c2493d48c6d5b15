"""Pipelines: steps and pipelines declared with decorators, planned into a DAG by tracing.

>>> import loopml
>>> @loopml.step
... def load(*, rows: int = 3) -> list[int]:
...     return list(range(rows))
>>> @loopml.step
... def total(values: list[int]) -> int:
...     return sum(values)
>>> @loopml.pipeline
... def summing(rows: int = 3) -> int:
...     return total(load(rows=rows))
>>> [call.name for call in summing.plan(rows=5).calls]
['load', 'total']
"""

from loopml.pipelines.datasets import dataset_version
from loopml.pipelines.definitions import Pipeline, Step, pipeline, step
from loopml.pipelines.materializers import Materializer, Materializers
from loopml.pipelines.plan import OutputRef, Plan, StepCall
from loopml.pipelines.runner import PipelineRun, StepResult, rerun, run, step_output
from loopml.pipelines.tuning import (
    TuneResult,
    choice,
    cross_validate,
    integer,
    loguniform,
    tune,
    uniform,
)

__all__ = [
    "Materializer",
    "Materializers",
    "OutputRef",
    "Pipeline",
    "PipelineRun",
    "Plan",
    "Step",
    "StepCall",
    "StepResult",
    "TuneResult",
    "choice",
    "cross_validate",
    "dataset_version",
    "integer",
    "loguniform",
    "pipeline",
    "rerun",
    "run",
    "step",
    "step_output",
    "tune",
    "uniform",
]
