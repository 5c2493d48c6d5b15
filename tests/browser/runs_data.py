"""Runs for the runs and compare pages' tests, made with the library: an experiment of five
runs with params, metric histories and known durations, and a real tuning study
(``loopml.tune``) of a logistic regression on scikit-learn's iris, each trial a child run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loopml.core.entities import RunStatus
from loopml.tracking import Client

EXPERIMENT = "churn"
STUDY_EXPERIMENT = "iris-tuning"
TRIALS = 6
START = 1_765_000_000_000
# name -> (model, learning rate, final auc, duration in seconds)
CHURN_RUNS = {
    "forest-a": ("rf", "0.1", 0.91, 40),
    "forest-b": ("rf", "0.05", 0.88, 300),
    "linear-a": ("lr", "0.1", 0.79, 5),
    "linear-b": ("lr", "0.01", 0.83, 75),
    "boost-a": ("gb", "0.2", 0.95, 1200),
}


@dataclass(frozen=True)
class RunsData:
    ids: dict[str, str]  # churn run name -> id
    search_run_id: str
    trial_ids: list[str]


def make_runs(client: Client) -> RunsData:
    ids = {}
    for name, (model, rate, auc, seconds) in CHURN_RUNS.items():
        run = client.create_run(EXPERIMENT, name=name)
        client.log_params(run.id, {"model": model, "learning_rate": rate, "folds": 5})
        for step in range(5):  # a curve that ends at the final auc
            client.log_metric(run.id, "auc", auc - 0.04 * (4 - step), step=step)
            client.log_metric(run.id, "val_loss", 1 - auc + 0.05 * (4 - step), step=step)
        client.flush()
        client.set_terminated(run.id, RunStatus.FINISHED)
        # a known duration, so sorting by it has one right answer
        client.metadata.set_run_status(run.id, RunStatus.FINISHED, run.start_time + seconds * 1000)
        ids[name] = run.id
    search_id, trial_ids = _tuning_study(client)
    return RunsData(ids, search_id, trial_ids)


def _tuning_study(client: Client) -> tuple[str, list[str]]:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    from loopml.pipelines.tuning import Trial, choice, loguniform, tune

    features, labels = load_iris(return_X_y=True)

    def objective(params: dict[str, Any], trial: Trial) -> float:
        model = LogisticRegression(C=params["C"], fit_intercept=params["intercept"], max_iter=300)
        scores = cross_val_score(model, features, labels, cv=3)
        for fold, score in enumerate(scores):
            trial.run.log_metric("fold_accuracy", float(score), step=fold)
        return float(scores.mean())

    space = {"C": loguniform(1e-3, 10.0), "intercept": choice([True, False])}
    result = tune(
        objective, space, n_trials=TRIALS, experiment=STUDY_EXPERIMENT, seed=7, client=client
    )
    return result.run_id, [trial.run_id for trial in result.trials]
