"""Executor helpers that need no running executor: Ray task options from a step's resources,
and what may be sent to a worker process."""

from __future__ import annotations

import pickle

import pytest

import loopml
from loopml.core.errors import InvalidInputError
from loopml.pipelines.executors import _dumps, ray_options
from tests.fixtures.backends import backend_unavailable


@loopml.step
def module_level(*, x: int = 1) -> int:
    return x


def test_resources_become_ray_task_options() -> None:
    assert ray_options(None) == {"num_cpus": 1}
    assert ray_options({"num_cpus": 2, "num_gpus": 0.5, "memory": 2**30, "tpu": 1}) == {
        "num_cpus": 2,
        "num_gpus": 0.5,
        "memory": 2**30,
        "resources": {"tpu": 1.0},
    }


@pytest.mark.parametrize("amount", [-1, "2", True])
def test_a_resource_must_be_a_number_at_least_zero(amount: object) -> None:
    with pytest.raises(InvalidInputError, match=r"Resource 'num_cpus' must be a number >= 0"):
        ray_options({"num_cpus": amount})  # type: ignore[dict-item]


def test_steps_travel_to_worker_processes_by_module_and_name() -> None:
    assert pickle.loads(_dumps(module_level)) is module_level


def test_a_copy_of_a_step_made_by_value_still_travels_by_module_and_name() -> None:
    """In a Ray worker a trial's pipeline arrives by value (cloudpickle), so its steps are
    copies; a step with a timeout must still reach the child process that runs it."""
    try:
        import cloudpickle  # comes with the ray extra
    except ImportError:
        backend_unavailable("cloudpickle is not installed (pip install 'loopml[ray]')")
    copy = cloudpickle.loads(cloudpickle.dumps(module_level))
    assert copy is not module_level
    assert pickle.loads(_dumps(copy)) is module_level


def test_a_step_defined_in_a_function_cannot_travel_and_says_why() -> None:
    @loopml.step
    def nested() -> int:
        return 1

    with pytest.raises(InvalidInputError, match=r"define it at the top level of an importable"):
        _dumps(nested)
