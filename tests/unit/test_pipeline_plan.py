"""Step and pipeline definitions, and planning by tracing: the DAG comes from passing outputs
as inputs, and every mistake is an error before any step runs."""

from __future__ import annotations

import pytest

import loopml
from loopml.core.errors import InvalidInputError
from loopml.pipelines import OutputRef, Plan, StepCall

RAN: list[str] = []


@loopml.step
def load(*, rows: int = 3) -> list[int]:
    RAN.append("load")
    return list(range(rows))


@loopml.step(cache=False, retries=2)
def scale(values: list[int], *, factor: float = 1.0) -> list[float]:
    RAN.append("scale")
    return [v * factor for v in values]


@loopml.step
def total(values: list[float], extra: list[int]) -> float:
    RAN.append("total")
    return sum(values) + sum(extra)


@loopml.pipeline
def summing(rows: int = 3, factor: float = 2.0) -> float:
    values = load(rows=rows)
    return total(scale(values, factor=factor), values)


def test_planning_records_calls_and_edges_without_running_anything() -> None:
    RAN.clear()
    plan = summing.plan(rows=5)
    assert RAN == []
    assert [call.name for call in plan.calls] == ["load", "scale", "total"]
    assert plan.params == {"rows": 5, "factor": 2.0}
    assert plan.call("load").params == {"rows": 5}
    assert plan.call("scale").params == {"factor": 2.0}
    assert plan.call("total").dependencies() == ["scale", "load"]
    assert plan.outputs == (OutputRef(plan.outputs[0].trace_id, "total"),)
    assert plan.downstream("load") == ["scale", "total"]


def test_step_options_and_signature_are_kept() -> None:
    assert (scale.cache, scale.retries, scale.inputs) == (False, 2, ("values",))
    assert list(scale.params) == ["factor"] and scale.params["factor"].default == 1.0
    assert load.returns == list[int]


def test_a_step_called_outside_a_pipeline_just_runs() -> None:
    assert total([1.5], [1, 2]) == 4.5


def test_the_same_step_twice_gets_numbered_call_names() -> None:
    @loopml.pipeline
    def twice() -> float:
        first = load(rows=2)
        return total(scale(first), scale(first, factor=3))

    names = [call.name for call in twice.plan().calls]
    assert names == ["load", "scale", "scale-2", "total"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"rows": "3"}, "The 'rows' param of pipeline 'summing' must be int. Got '3' (str)"),
        ({"rows": True}, "must be int. Got True (bool)"),
        ({"factor": "x"}, "The 'factor' param of pipeline 'summing' must be float"),
        ({"nope": 1}, "Pipeline 'summing' has no param 'nope'. Its params: rows, factor."),
    ],
)
def test_bad_pipeline_params_are_refused_before_anything_runs(
    params: dict[str, object], message: str
) -> None:
    RAN.clear()
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        summing.plan(**params)
    assert RAN == []


def test_an_int_is_accepted_for_a_float_param() -> None:
    assert summing.plan(factor=3).params["factor"] == 3.0


def test_bad_step_calls_are_refused_while_planning() -> None:
    @loopml.pipeline
    def wrong_param() -> list[float]:
        return scale(load(), factr=2.0)  # type: ignore[call-arg]

    @loopml.pipeline
    def wrong_type() -> list[float]:
        return scale(load(), factor="big")  # type: ignore[arg-type]

    @loopml.pipeline
    def missing_input() -> float:
        return total(load())  # type: ignore[call-arg]

    with pytest.raises(InvalidInputError, match="Step 'scale' has no param 'factr'"):
        wrong_param.plan()
    with pytest.raises(InvalidInputError, match="The 'factor' param of step 'scale' must be float"):
        wrong_type.plan()
    with pytest.raises(InvalidInputError, match=r"Step 'total' takes 2 input\(s\)"):
        missing_input.plan()


def test_an_output_of_another_pipeline_is_refused() -> None:
    stolen = summing.plan().outputs[0]

    @loopml.pipeline
    def thief() -> float:
        return total(stolen, load())  # type: ignore[arg-type]

    with pytest.raises(InvalidInputError, match="output of 'total' from another pipeline"):
        thief.plan()


def test_branching_on_an_output_while_planning_is_refused() -> None:
    @loopml.pipeline
    def branching() -> float:
        values = load()
        if values:  # no value exists while planning
            return total(scale(values), values)
        return total(values, values)  # type: ignore[arg-type]

    with pytest.raises(InvalidInputError, match="branch on params, not on step outputs"):
        branching.plan()


def test_a_cycle_or_a_missing_step_in_a_plan_is_named() -> None:
    a = StepCall("a", load, (OutputRef(0, "b"),), {})
    b = StepCall("b", load, (OutputRef(0, "a"),), {})
    with pytest.raises(InvalidInputError, match="has a cycle among the step calls a → b"):
        Plan("looping", {}, (a, b))
    with pytest.raises(InvalidInputError, match="reads the output of 'ghost', which is not a step"):
        Plan("haunted", {}, (StepCall("a", load, (OutputRef(0, "ghost"),), {}),))


def test_a_pipeline_is_not_called_directly_and_returns_only_outputs() -> None:
    with pytest.raises(InvalidInputError, match=r"summing.plan\(param=value\)"):
        summing()

    @loopml.pipeline
    def returns_a_value() -> int:
        load()
        return 3

    with pytest.raises(InvalidInputError, match="must return step outputs"):
        returns_a_value.plan()


def test_variadic_signatures_are_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"may not take \*values"):

        @loopml.step
        def spread(*values: int) -> int:
            return sum(values)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": -1}, r"'retries' parameter of step must be an int >= 0"),
        ({"timeout": 0}, r"'timeout' parameter of step must be a number of seconds > 0"),
        ({"timeout": "1m"}, r"'timeout' parameter of step must be a number of seconds > 0"),
    ],
)
def test_bad_step_options_are_refused_at_declaration(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        loopml.step(**options)(lambda: 1)  # type: ignore[call-overload]
