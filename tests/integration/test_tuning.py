"""loopml.tune on Optuna and cross_validate, over real embedded stores: trials are nested runs,
the best trial is recorded, pipelines can be tuned, pruning and bad spaces behave."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import loopml
from loopml.core.errors import InvalidInputError
from loopml.pipelines import choice, cross_validate, integer, run, tune, uniform
from loopml.tracking.client import Client


def test_trials_are_nested_runs_and_the_best_is_recorded(client: Client) -> None:
    def objective(params: dict[str, Any], trial: loopml.pipelines.tuning.Trial) -> float:
        bonus = 0.5 if params["kind"] == "b" else 0.0
        return -((params["x"] - 0.3) ** 2) + bonus + params["n"] / 100

    result = tune(
        objective,
        {"x": uniform(0.0, 1.0), "kind": choice(["a", "b"]), "n": integer(1, 5)},
        n_trials=25,
        seed=3,
        client=client,
    )
    assert len(result.trials) == 25 and all(t.state == "complete" for t in result.trials)
    values = [t.value for t in result.trials if t.value is not None]
    assert result.best_value == max(values)
    assert result.best_params["kind"] == "b"  # the sampler found the better branch
    search = client.get_run(result.run_id)
    assert json.loads(search.tags["loopml.best_params"]) == result.best_params
    assert search.tags["loopml.best_trial_run"] == result.best.run_id
    best_run = client.get_run(result.best.run_id)
    assert best_run.parent_run_id == result.run_id
    assert best_run.metrics["objective"] == pytest.approx(result.best_value)
    assert best_run.params["kind"] == "b"


@loopml.step
def quadratic(*, x: float = 0.0, shift: float = 0.7) -> dict[str, float]:
    return {"score": -((x - shift) ** 2), "x": x}


@loopml.pipeline
def curve(x: float = 0.0) -> dict[str, float]:
    return quadratic(x=x)


def test_a_pipeline_is_tuned_by_an_entry_of_its_output(client: Client) -> None:
    result = tune(
        curve, {"x": uniform(0.0, 1.0)}, n_trials=12, metric="score", seed=1, client=client
    )
    assert abs(result.best_params["x"] - 0.7) < 0.25
    trial_run = client.get_run(result.best.run_id)
    pipeline_run = client.get_run(trial_run.tags["loopml.pipeline_run"])
    assert pipeline_run.tags["loopml.pipeline"] == "curve"
    again = run(curve, params=result.best_params, client=client)  # hand the best on
    assert again.steps["quadratic"].cached


@loopml.step
def fitted(*, x: float = 0.0) -> np.ndarray:
    return np.array([x, 1.0])


@loopml.pipeline
def fitting(x: float = 0.0) -> np.ndarray:
    return fitted(x=x)


@loopml.step
def described(*, x: float = 0.0) -> dict[str, str]:
    return {"verdict": "good" if x > 0.5 else "bad"}


@loopml.pipeline
def describing(x: float = 0.0) -> dict[str, str]:
    return described(x=x)


def test_a_pipeline_that_returns_no_number_is_told_what_tune_needs(client: Client) -> None:
    with pytest.raises(InvalidInputError, match=r"returns a ndarray, not a number.*--metric"):
        tune(fitting, {"x": uniform(0.0, 1.0)}, n_trials=1, client=client)
    with pytest.raises(InvalidInputError, match=r"Entry 'verdict' of .* is a str, not a num"):
        tune(describing, {"x": uniform(0.0, 1.0)}, n_trials=1, metric="verdict", client=client)


def test_pruned_trials_are_marked_and_do_not_win(client: Client) -> None:
    import optuna

    def objective(params: dict[str, Any], trial: loopml.pipelines.tuning.Trial) -> float:
        for step in range(5):
            trial.report(params["x"] + step / 100, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return params["x"]

    pruner = optuna.pruners.ThresholdPruner(lower=0.5)
    result = tune(
        objective, {"x": uniform(0.0, 1.0)}, n_trials=15, seed=2, pruner=pruner, client=client
    )
    states = {t.state for t in result.trials}
    assert "pruned" in states and result.best.state == "complete"
    pruned = next(t for t in result.trials if t.state == "pruned")
    assert client.get_run(pruned.run_id).tags["loopml.trial_state"] == "pruned"


@pytest.mark.parametrize(
    ("space", "kwargs", "message"),
    [
        ({}, {}, "The search space of tune is empty"),
        ({"x": (0, 1)}, {}, "Search space entry 'x' must be uniform()"),
        ({"x": "uniform"}, {"direction": "up"}, "must be one of maximize, minimize"),
        ({"y": "u"}, {"n_trials": 0}, "'n_trials' parameter of tune must be an int >= 1"),
    ],
)
def test_bad_searches_are_refused_before_any_trial(
    client: Client, space: dict[str, Any], kwargs: dict[str, Any], message: str
) -> None:
    space = {k: uniform(0.0, 1.0) if v == "uniform" or v == "u" else v for k, v in space.items()}
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        tune(lambda params, trial: 0.0, space, **{"n_trials": 3, **kwargs}, client=client)
    assert list(client.search_runs()) == []


def test_tuning_a_pipeline_param_it_does_not_have_is_refused(client: Client) -> None:
    with pytest.raises(InvalidInputError, match="Pipeline 'curve' has no param 'y' to tune"):
        tune(curve, {"y": uniform(0.0, 1.0)}, n_trials=2, client=client)


def test_cross_validate_logs_each_fold_and_mean_and_std(client: Client) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    features = rng.normal(size=(120, 3))
    labels = (features[:, 0] + 0.1 * rng.normal(size=120) > 0).astype(int)
    with loopml.start_run(experiment="cv", client=client) as active:
        means = cross_validate(
            LogisticRegression(), features, labels, cv=4, scoring=("accuracy", "f1")
        )
    assert 0.8 < means["accuracy"] <= 1.0
    history = client.get_metric_history(active.id, "accuracy_fold")
    assert [m.step for m in history] == [0, 1, 2, 3]
    metrics = client.get_run(active.id).metrics
    assert metrics["accuracy_mean"] == pytest.approx(means["accuracy"])
    assert metrics["f1_std"] >= 0.0
