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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.pipelines.definitions import ParamSpecEntry, Pipeline
from loopml.pipelines.plan import Plan

__all__ = [
    "NamedPipeline",
    "load_pipeline",
    "named_pipelines",
    "parse_params",
    "plan_named",
    "resolve",
]

PROJECT_FILE = "loopml.yaml"


@dataclass(frozen=True)
class NamedPipeline:
    """A pipeline named in ``loopml.yaml``: its reference and default params (as text)."""

    name: str
    ref: str
    params: dict[str, str]


def named_pipelines(project: Path) -> dict[str, NamedPipeline]:
    """The ``pipelines:`` section of ``<project>/loopml.yaml`` (none if there is no file)::

    pipelines:
      training: my_pkg.pipelines:train          # a reference
      nightly:                                  # or a reference with default params
        ref: my_pkg.pipelines:train
        params: {n_estimators: 300, data: iris@latest}
    """
    path = project / PROJECT_FILE
    if not path.is_file():
        return {}
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise InvalidInputError(f"{where}: not valid YAML ({exc}).") from exc
    section = document.get("pipelines", {}) if isinstance(document, dict) else None
    if not isinstance(section, dict):
        raise InvalidInputError(f"{path}: 'pipelines' must be a mapping of name → reference.")
    found = {}
    for name, entry in section.items():
        if isinstance(entry, str):
            entry = {"ref": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("ref"), str):
            raise InvalidInputError(
                f"{path}: pipelines.{name} must be 'module:function' or a mapping with 'ref' "
                "(and optional 'params')."
            )
        params = entry.get("params") or {}
        if not isinstance(params, dict):
            raise InvalidInputError(f"{path}: pipelines.{name}.params must be a mapping.")
        unknown = sorted(set(entry) - {"ref", "params"})
        if unknown:
            raise InvalidInputError(
                f"{path}: pipelines.{name} has an unknown key {unknown[0]!r}; allowed: ref, params."
            )
        texts = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
        found[str(name)] = NamedPipeline(str(name), entry["ref"], texts)
    return found


def resolve(target: str, project: Path) -> tuple[str, dict[str, str]]:
    """``target`` as (reference, default params): a name from loopml.yaml, or a reference."""
    if ":" in target:
        return target, {}
    named = named_pipelines(project)
    if target not in named:
        known = ", ".join(named) or f"none ({project / PROJECT_FILE} names no pipeline)"
        raise NotFoundError(
            f"No pipeline is named {target!r}; named pipelines: {known}. Or give a reference "
            "like 'package.module:function'."
        )
    return named[target].ref, named[target].params


def plan_named(target: str, project: Path, params: Iterable[str] = ()) -> tuple[str, Plan]:
    """The reference and plan of the pipeline ``target`` names (a name from loopml.yaml, or a
    reference), with its loopml.yaml defaults and then ``params`` (``key=value``) over them:
    what ``loopml pipeline run`` and an alert's pipeline action run."""
    ref, defaults = resolve(target, project)
    pipeline = load_pipeline(ref, search_path=project)
    texts = [f"{key}={value}" for key, value in defaults.items()] + list(params)
    return ref, pipeline.plan(**parse_params(texts, pipeline.params, pipeline.name))


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
