"""The model server (``loopml serve``) and batch scoring (``loopml predict``).

The server puts a registered version (``NAME@ALIAS``, followed as the alias moves) or a bundle
folder behind MLflow's ``/invocations`` and the Open Inference Protocol, with validation
against the signature, adaptive micro-batching, hot swap, canary and shadow traffic, health
and Prometheus metrics, and logs every prediction; labels sent later are joined by id.

>>> from loopml.serving import ServeOptions, serve  # doctest: +SKIP
>>> serve("cancer@champion", ServeOptions(max_batch_size=32), port=8080)  # doctest: +SKIP

Names are imported on first use, so batch scoring never imports the web stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loopml.monitoring.log_reader import read_feedback, read_predictions
    from loopml.serving.app import create_app
    from loopml.serving.feedback import send_feedback
    from loopml.serving.options import ServeOptions
    from loopml.serving.run import open_source, serve
    from loopml.serving.sources import BundleSource, LoadedModel, ModelSource, RegistrySource

_HOMES = {
    "loopml.serving.app": ("create_app",),
    "loopml.serving.feedback": ("send_feedback",),
    "loopml.monitoring.log_reader": ("read_feedback", "read_predictions"),
    "loopml.serving.options": ("ServeOptions",),
    "loopml.serving.run": ("open_source", "serve"),
    "loopml.serving.sources": ("BundleSource", "LoadedModel", "ModelSource", "RegistrySource"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "BundleSource",
    "LoadedModel",
    "ModelSource",
    "RegistrySource",
    "ServeOptions",
    "create_app",
    "open_source",
    "read_feedback",
    "read_predictions",
    "send_feedback",
    "serve",
]


def __getattr__(name: str) -> object:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'loopml.serving' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
