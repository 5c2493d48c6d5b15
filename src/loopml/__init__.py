"""loopml: one tool for the whole machine-learning lifecycle, with the loop closed.

>>> import loopml
>>> with loopml.start_run(experiment="demo", params={"lr": 0.1}) as run:  # doctest: +SKIP
...     run.log_metric("loss", 0.25, step=1)
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING

from loopml.core.entities import Experiment, Metric, Page, Run, RunStatus
from loopml.core.errors import (
    AlreadyExistsError,
    ConflictError,
    FilterSyntaxError,
    IntegrityError,
    InvalidInputError,
    LoopMLError,
    NotFoundError,
)
from loopml.core.version import __version__
from loopml.tracking import ActiveRun, Client, active_run, start_run

if _TYPE_CHECKING:  # what type checkers see of the names imported on first use
    from loopml import data, models, pipelines  # noqa: F401
    from loopml.pipelines import pipeline, step, tune


_LAZY = {"step": "loopml.pipelines", "pipeline": "loopml.pipelines", "tune": "loopml.pipelines"}


def __getattr__(name: str) -> object:
    """``loopml.data``, ``loopml.models``, ``loopml.pipelines`` and ``loopml.step`` /
    ``pipeline`` / ``tune`` are imported on first use, so ``import loopml`` stays light."""
    if name in ("data", "models", "pipelines"):
        return _importlib.import_module(f"loopml.{name}")
    if name in _LAZY:
        return getattr(_importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'loopml' has no attribute {name!r}")


__all__ = [
    "ActiveRun",
    "AlreadyExistsError",
    "Client",
    "ConflictError",
    "Experiment",
    "FilterSyntaxError",
    "IntegrityError",
    "InvalidInputError",
    "LoopMLError",
    "Metric",
    "NotFoundError",
    "Page",
    "Run",
    "RunStatus",
    "__version__",
    "active_run",
    "pipeline",
    "start_run",
    "step",
    "tune",
]


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
