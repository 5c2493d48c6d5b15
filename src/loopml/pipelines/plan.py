"""Plans: the DAG a pipeline's body describes, built by tracing it (no step runs).

While a pipeline is traced, each step call is recorded as a :class:`StepCall` and returns an
:class:`OutputRef` naming that call's output; passing the ref to another step is the edge.
A :class:`Plan` is checked as a whole: every input names a call of the same plan, and the
calls can be ordered (no cycle), so executors can trust it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidInputError

if TYPE_CHECKING:
    from loopml.pipelines.definitions import Step

__all__ = ["OutputRef", "Plan", "StepCall", "current_trace", "trace"]

_TRACE: contextvars.ContextVar[Tracer | None] = contextvars.ContextVar("loopml_trace", default=None)


@dataclass(frozen=True, slots=True)
class OutputRef:
    """The output of the call ``call`` in the plan traced as ``trace_id``."""

    trace_id: int
    call: str

    def __repr__(self) -> str:
        return f"<output of step call {self.call!r}>"

    def __bool__(self) -> bool:
        raise InvalidInputError(
            f"The output of step call {self.call!r} has no value while the pipeline is being "
            "planned: branch on params, not on step outputs (or do it inside a step)."
        )


@dataclass(frozen=True)
class StepCall:
    """One call of a step in a plan: its unique name, inputs (refs or plain values), params."""

    name: str
    step: Step[Any, Any]
    inputs: tuple[Any, ...]
    params: Mapping[str, Any]

    def dependencies(self) -> list[str]:
        return [item.call for item in self.inputs if isinstance(item, OutputRef)]


@dataclass(frozen=True)
class Plan:
    """A pipeline's calls in an order where every call comes after the ones it reads."""

    pipeline: str
    params: Mapping[str, Any]
    calls: tuple[StepCall, ...]
    outputs: tuple[OutputRef, ...] = ()
    _by_name: Mapping[str, StepCall] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, StepCall] = {}
        for call in self.calls:
            if call.name in by_name:
                raise InvalidInputError(
                    f"Plan {self.pipeline!r} names the call {call.name!r} twice."
                )
            by_name[call.name] = call
        object.__setattr__(self, "_by_name", by_name)
        for call in self.calls:
            for dependency in call.dependencies():
                if dependency not in by_name:
                    raise InvalidInputError(
                        f"Step call {call.name!r} reads the output of {dependency!r}, which is "
                        f"not a step of pipeline {self.pipeline!r}."
                    )
        order = _topological(self.pipeline, self.calls)
        object.__setattr__(self, "calls", tuple(by_name[name] for name in order))

    def call(self, name: str) -> StepCall:
        try:
            return self._by_name[name]
        except KeyError:
            raise InvalidInputError(
                f"Pipeline {self.pipeline!r} has no step call {name!r}. Its calls: "
                f"{', '.join(self._by_name)}."
            ) from None

    def downstream(self, name: str) -> list[str]:
        """The calls that read ``name``'s output, directly or not (in plan order)."""
        reached = {name}
        for call in self.calls:
            if reached.intersection(call.dependencies()):
                reached.add(call.name)
        return [call.name for call in self.calls if call.name in reached and call.name != name]


def _topological(pipeline: str, calls: tuple[StepCall, ...]) -> list[str]:
    """Kahn's algorithm, keeping the recorded order among ready calls; names a cycle."""
    waiting = {call.name: set(call.dependencies()) for call in calls}
    order: list[str] = []
    while waiting:
        ready = [name for name, needs in waiting.items() if not needs]
        if not ready:
            cycle = " → ".join(sorted(waiting))
            raise InvalidInputError(
                f"Pipeline {pipeline!r} has a cycle among the step calls {cycle}: a step cannot "
                "read its own output, directly or through others."
            )
        for name in ready:
            order.append(name)
            del waiting[name]
        for needs in waiting.values():
            needs.difference_update(ready)
    return order


class Tracer:
    """Records step calls while a pipeline body runs under :func:`trace`."""

    def __init__(self, pipeline: str, params: Mapping[str, Any]) -> None:
        self.pipeline = pipeline
        self.params = dict(params)
        self.calls: list[StepCall] = []
        self._counts: dict[str, int] = {}

    def record(
        self, step: Step[Any, Any], inputs: tuple[Any, ...], params: Mapping[str, Any]
    ) -> OutputRef:
        for item in inputs:
            if isinstance(item, OutputRef) and item.trace_id != id(self):
                raise InvalidInputError(
                    f"Step {step.name!r} was given the output of {item.call!r} from another "
                    f"pipeline; a step can only read outputs of steps in {self.pipeline!r}."
                )
        count = self._counts.get(step.name, 0) + 1
        self._counts[step.name] = count
        name = step.name if count == 1 else f"{step.name}-{count}"
        self.calls.append(StepCall(name, step, inputs, dict(params)))
        return OutputRef(id(self), name)

    def finish(self, outputs: tuple[OutputRef, ...]) -> Plan:
        for ref in outputs:
            if ref.trace_id != id(self):
                raise InvalidInputError(
                    f"Pipeline {self.pipeline!r} returns the output of {ref.call!r} from another "
                    "pipeline."
                )
        return Plan(self.pipeline, self.params, tuple(self.calls), outputs)


def current_trace() -> Tracer | None:
    return _TRACE.get()


@contextmanager
def trace(pipeline: str, params: Mapping[str, Any]) -> Iterator[Tracer]:
    """Record the step calls made in this block (nested traces are refused)."""
    if _TRACE.get() is not None:
        raise InvalidInputError(
            f"Pipeline {pipeline!r} is planned inside another pipeline; call its steps instead."
        )
    tracer = Tracer(pipeline, params)
    token = _TRACE.set(tracer)
    try:
        yield tracer
    finally:
        _TRACE.reset(token)
