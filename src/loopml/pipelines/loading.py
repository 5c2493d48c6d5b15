"""Finding a pipeline by reference (``package.module:function``) and reading params given as
text (``--param n_estimators=200``), for the CLI and for reruns.

>>> parse_params(["rows=5", "name=iris"], {"rows": ParamSpecEntry("rows", int), "name":
...     ParamSpecEntry("name", str)}, "demo")
{'rows': 5, 'name': 'iris'}
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.pipelines.definitions import ParamSpecEntry, Pipeline

__all__ = ["load_pipeline", "parse_params"]


def load_pipeline(ref: str, *, search_path: Path | None = None) -> Pipeline[Any, Any]:
    """The pipeline ``module:attribute`` names, importing the module (from ``search_path``,
    default the current folder, first)."""
    module_name, sep, attribute = ref.partition(":")
    if not sep or not module_name or not attribute:
        raise InvalidInputError(
            f"A pipeline reference looks like 'package.module:function'; got {ref!r}."
        )
    folder = str((search_path or Path.cwd()).resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise NotFoundError(
            f"Cannot import {module_name!r} for pipeline {ref!r}: {exc}. Run from the folder "
            "that holds the module, or install its package."
        ) from exc
    found = getattr(module, attribute, None)
    if found is None:
        raise NotFoundError(f"Module {module_name!r} has no {attribute!r} (pipeline {ref!r}).")
    if not isinstance(found, Pipeline):
        raise InvalidInputError(
            f"{ref!r} is a {type(found).__name__}, not a pipeline; decorate it with "
            "@loopml.pipeline."
        )
    return found


def parse_params(
    texts: Iterable[str], specs: Mapping[str, ParamSpecEntry], pipeline: str
) -> dict[str, Any]:
    """``["k=v", …]`` → values of each param's type (JSON for lists and dicts; true/false,
    1/0, yes/no for booleans). Type and name errors name the param and what is allowed."""
    values: dict[str, Any] = {}
    for text in texts:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInputError(f"A param is written key=value; got {text!r}.")
        spec = specs.get(key)
        if spec is None:
            known = ", ".join(specs) or "none"
            raise InvalidInputError(
                f"Pipeline {pipeline!r} has no param {key!r}. Its params: {known}."
            )
        values[key] = _convert(spec, raw, pipeline)
    return values


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _convert(spec: ParamSpecEntry, raw: str, pipeline: str) -> Any:
    kind = spec.annotation
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered not in _TRUE | _FALSE:
                raise ValueError("expected true or false")
            return lowered in _TRUE
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is str or kind is None:
            return raw
        return json.loads(raw)
    except ValueError as exc:
        name = getattr(kind, "__name__", str(kind))
        raise InvalidInputError(
            f"The {spec.name!r} param of pipeline {pipeline!r} must be {name}. Got {raw!r} ({exc})."
        ) from exc
