"""Steps and pipelines as inert definitions: decorating a function runs nothing.

A step's positional parameters are its *inputs* (outputs of other steps, or plain values); its
keyword-only parameters are its *params*, typed by their annotations and checked before any
step runs. A pipeline is a function that calls steps; :meth:`Pipeline.plan` traces it into a
:class:`~loopml.pipelines.plan.Plan` whose edges come from passing outputs as inputs.

>>> @step
... def double(x: int, *, times: int = 2) -> int:
...     return x * times
>>> @pipeline
... def twice(x: int = 3) -> int:
...     return double(double(x), times=3)
>>> [call.name for call in twice.plan().calls]
['double', 'double-2']
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar, overload

from loopml.core.errors import InvalidInputError
from loopml.pipelines.plan import OutputRef, Plan, current_trace, trace

__all__ = ["ParamSpecEntry", "Pipeline", "Step", "pipeline", "step"]

P = ParamSpec("P")
R = TypeVar("R")

# the value types a param may have (checked before anything runs); others need no check
_CHECKED = (bool, int, float, str, list, dict, tuple)


@dataclass(frozen=True)
class ParamSpecEntry:
    """One declared param: its name, annotation (a type or None) and default (or MISSING)."""

    name: str
    annotation: Any
    default: Any = inspect.Parameter.empty

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty


@dataclass(frozen=True)
class Step(Generic[P, R]):
    """A step definition. Called inside a pipeline being planned, it records a call and returns
    an :class:`OutputRef`; called anywhere else, it simply runs the function."""

    fn: Callable[P, R]
    name: str
    inputs: tuple[str, ...]
    params: Mapping[str, ParamSpecEntry]
    returns: Any
    cache: bool = True
    retries: int = 0
    timeout: float | None = None
    resources: Mapping[str, float] = field(default_factory=dict)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        tracer = current_trace()
        if tracer is None:
            return self.fn(*args, **kwargs)
        bound = self._bind(args, kwargs)
        ref: R = tracer.record(self, bound[0], bound[1])  # type: ignore[assignment]
        return ref

    def _bind(
        self, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if len(args) != len(self.inputs):
            raise InvalidInputError(
                f"Step {self.name!r} takes {len(self.inputs)} input(s) "
                f"({', '.join(self.inputs) or 'none'}), got {len(args)}. Inputs are positional; "
                "params are keyword-only."
            )
        return tuple(args), resolve_params(f"step {self.name!r}", self.params, kwargs)


@dataclass(frozen=True)
class Pipeline(Generic[P, R]):
    """A pipeline definition: a function of typed params that calls steps."""

    fn: Callable[P, R]
    name: str
    params: Mapping[str, ParamSpecEntry]

    def plan(self, **params: Any) -> Plan:
        """Trace the pipeline with ``params`` (checked against their types; defaults filled
        in) into a :class:`Plan`. No step runs."""
        values = self.resolve_params(params)
        with trace(self.name, values) as tracer:
            result = self.fn(**values)  # type: ignore[call-arg]
        outputs = _output_refs(self.name, result)
        return tracer.finish(outputs)

    def resolve_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return resolve_params(f"pipeline {self.name!r}", self.params, params)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        raise InvalidInputError(
            f"Pipeline {self.name!r} is a definition: build a plan with "
            f"{self.name}.plan(param=value) and run it (loopml.pipelines.run), or use "
            "'loopml pipeline run'."
        )


def _output_refs(name: str, result: object) -> tuple[OutputRef, ...]:
    if result is None:
        return ()
    items = result if isinstance(result, tuple | list) else (result,)
    if not all(isinstance(item, OutputRef) for item in items):
        raise InvalidInputError(
            f"Pipeline {name!r} must return step outputs (or nothing), got {result!r:.80}."
        )
    return tuple(items)


def resolve_params(
    owner: str, specs: Mapping[str, ParamSpecEntry], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Every declared param of ``owner`` ("step 'fit'"): given ones type-checked, missing ones
    defaulted; an unknown or missing required param is an error naming it."""
    unknown = sorted(set(given) - set(specs))
    if unknown:
        known = ", ".join(specs) or "none"
        raise InvalidInputError(
            f"{owner[0].upper()}{owner[1:]} has no param {unknown[0]!r}. Its params: {known}."
        )
    values = {}
    for name, spec in specs.items():
        if name in given:
            values[name] = check_param(owner, spec, given[name])
        elif spec.required:
            raise InvalidInputError(f"{owner[0].upper()}{owner[1:]} needs the param {name!r}.")
        else:
            values[name] = spec.default
    return values


def check_param(owner: str, spec: ParamSpecEntry, value: object) -> object:
    """``value`` if it fits the param's annotation (an int is accepted for a float)."""
    expected = typing.get_origin(spec.annotation) or spec.annotation
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(expected, type) and issubclass(expected, _CHECKED):
        wrong_bool = isinstance(value, bool) and expected in (int, float)
        if wrong_bool or not isinstance(value, expected):
            raise InvalidInputError(
                f"The {spec.name!r} param of {owner} must be {expected.__name__}. "
                f"Got {value!r:.80} ({type(value).__name__}) instead."
            )
    return value


def _signature(fn: Callable[..., object], kind: str) -> tuple[list[str], dict[str, ParamSpecEntry]]:
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:  # a forward reference that cannot be resolved
        raise InvalidInputError(
            f"Cannot read the annotations of {kind} {fn.__qualname__!r}: {exc}."
        ) from exc
    inputs: list[str] = []
    params: dict[str, ParamSpecEntry] = {}
    for parameter in inspect.signature(fn).parameters.values():
        annotation = hints.get(parameter.name)
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise InvalidInputError(
                f"{kind.capitalize()} {fn.__qualname__!r} may not take *{parameter.name}: "
                "declare every input and param by name."
            )
        if kind == "step" and parameter.kind is not parameter.KEYWORD_ONLY:
            inputs.append(parameter.name)
        else:
            params[parameter.name] = ParamSpecEntry(parameter.name, annotation, parameter.default)
    return inputs, params


@overload
def step(fn: Callable[P, R], /) -> Step[P, R]: ...


@overload
def step(
    *,
    name: str | None = None,
    cache: bool = True,
    retries: int = 0,
    timeout: float | None = None,
    resources: Mapping[str, float] | None = None,
) -> Callable[[Callable[P, R]], Step[P, R]]: ...


def step(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    cache: bool = True,
    retries: int = 0,
    timeout: float | None = None,
    resources: Mapping[str, float] | None = None,
) -> Step[P, R] | Callable[[Callable[P, R]], Step[P, R]]:
    """Make ``fn`` a step: positional parameters are inputs, keyword-only ones typed params.

    ``cache=False`` always runs it; ``retries`` re-runs a failing call (with backoff);
    ``timeout`` (seconds) and ``resources`` (e.g. ``{"num_cpus": 2}``) are for executors.
    """

    def make(function: Callable[P, R]) -> Step[P, R]:
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise InvalidInputError(
                f"The 'retries' parameter of step must be an int >= 0. Got {retries!r} instead."
            )
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
        ):
            raise InvalidInputError(
                f"The 'timeout' parameter of step must be a number of seconds > 0. Got "
                f"{timeout!r} instead."
            )
        inputs, params = _signature(function, "step")
        hints = typing.get_type_hints(function)
        made: Step[P, R] = Step(
            fn=function,
            name=name or function.__name__,
            inputs=tuple(inputs),
            params=params,
            returns=hints.get("return"),
            cache=cache,
            retries=retries,
            timeout=timeout,
            resources=dict(resources or {}),
        )
        return made

    return make(fn) if fn is not None else make


def pipeline(fn: Callable[P, R]) -> Pipeline[P, R]:
    """Make ``fn`` a pipeline: its parameters (typed, with defaults) are the pipeline's
    params; its body calls steps, passing outputs as inputs."""
    inputs, params = _signature(fn, "pipeline")
    assert not inputs  # pipelines have params only (all parameters go to params)
    made: Pipeline[P, R] = Pipeline(fn=fn, name=fn.__name__, params=params)
    return made
