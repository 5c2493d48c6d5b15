"""Hyperparameter search on Optuna (TPE by default), every trial a nested run, and a
cross-validation helper that logs per-fold and mean ± std metrics.

The search uses Optuna's ask-and-tell interface, so the trials' work runs wherever loopml
puts it: one after another in this process (``executor="local"``, with pruning), or as many
at once as the executor has room for (``"process"`` workers, or Ray tasks with ``"ray"``),
each trial a job that logs to its own run.

>>> def objective(params, trial):  # doctest: +SKIP
...     return 1 - (params["x"] - 0.3) ** 2
>>> result = tune(objective, {"x": uniform(0, 1)}, n_trials=20)  # doctest: +SKIP
>>> result.best_params  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.core.entities import Run, RunStatus
from loopml.core.errors import BackendUnavailableError, InvalidInputError, StepFailedError
from loopml.pipelines.definitions import Pipeline
from loopml.pipelines.executors import Executor, executor_scope, ray_options
from loopml.pipelines.runner import run
from loopml.tracking.active_run import ActiveRun
from loopml.tracking.client import Client, client_scope
from loopml.tracking.fluent import active_run, attached_run, start_run

if TYPE_CHECKING:
    import optuna

__all__ = [
    "Trial",
    "TuneResult",
    "choice",
    "cross_validate",
    "integer",
    "loguniform",
    "tune",
    "uniform",
]

DIRECTIONS = ("maximize", "minimize")


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise BackendUnavailableError(
            "Tuning needs Optuna, which is not installed: pip install 'loopml[tune]'."
        ) from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def uniform(low: float, high: float) -> Any:
    """A float drawn between ``low`` and ``high``."""
    return _optuna().distributions.FloatDistribution(low, high)


def loguniform(low: float, high: float) -> Any:
    """A float drawn between ``low`` and ``high`` on a log scale (learning rates, C…)."""
    return _optuna().distributions.FloatDistribution(low, high, log=True)


def integer(low: int, high: int, *, step: int = 1) -> Any:
    """An int between ``low`` and ``high`` inclusive."""
    return _optuna().distributions.IntDistribution(low, high, step=step)


def choice(options: Sequence[bool | int | float | str | None]) -> Any:
    """One of ``options``."""
    return _optuna().distributions.CategoricalDistribution(list(options))


class Trial:
    """One trial as the objective sees it: its params, its run, and pruning (in trials that
    run in the search's own process; elsewhere ``should_prune`` is always False)."""

    def __init__(
        self, number: int, params: dict[str, Any], run: ActiveRun, trial: Any = None
    ) -> None:
        self._trial: optuna.trial.Trial | None = trial
        self.run = run
        self.number = number
        self.params = params

    def report(self, value: float, step: int) -> None:
        """Log an intermediate value (metric ``objective`` at ``step``) for the pruner."""
        self.run.log_metric("objective", value, step=step)
        if self._trial is not None:
            self._trial.report(value, step)

    def should_prune(self) -> bool:
        """True when the pruner gives up on this trial: return (or raise) early."""
        return self._trial is not None and bool(self._trial.should_prune())


@dataclass(frozen=True)
class TrialResult:
    number: int
    run_id: str
    params: dict[str, Any]
    value: float | None
    state: str  # "complete", "pruned" or "failed"


@dataclass(frozen=True)
class TuneResult:
    """The search: its run, every trial, and the best one."""

    run_id: str
    direction: str
    trials: list[TrialResult]
    best: TrialResult

    @property
    def best_params(self) -> dict[str, Any]:
        return self.best.params

    @property
    def best_value(self) -> float | None:
        return self.best.value


Objective = Callable[[dict[str, Any], Trial], float] | Pipeline[Any, Any]


def tune(
    objective: Objective,
    space: Mapping[str, Any],
    *,
    n_trials: int,
    direction: str = "maximize",
    metric: str | None = None,
    params: Mapping[str, Any] | None = None,
    experiment: str | None = None,
    name: str | None = None,
    seed: int | None = None,
    pruner: Any = None,
    client: Client | None = None,
    executor: str | Executor | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    resources: Mapping[str, float] | None = None,
    trust_code: bool = False,
) -> TuneResult:
    """Search ``space`` (name → :func:`uniform`, :func:`loguniform`, :func:`integer`,
    :func:`choice` or any Optuna distribution) for ``n_trials`` trials.

    ``objective`` is ``f(params, trial) -> float``, or a pipeline whose params include the
    space's names: each trial runs it with ``params`` plus the trial's (sharing cached steps)
    and scores its output, or ``output[metric]`` when the output is a dict. Each trial is a
    nested run with its params and the metric ``objective``; the search run gets the best
    params and value.

    ``executor`` (``"local"``, ``"process"``, ``"ray"`` or an open executor; default
    ``LOOPML_EXECUTOR`` or local) says where trials run: beyond ``local`` as many at once as
    it has room for, each with ``resources`` (Ray task options, e.g. ``{"num_cpus": 1}``);
    a pipeline objective then runs inside its trial's job. Pruning needs ``local``.
    The search run goes to ``experiment`` (default: that of the current run, when tuning
    inside one such as a pipeline step, else "tuning"). ``trust_code`` is passed to each
    trial's pipeline run (:func:`loopml.pipelines.run`).
    """
    optuna = _optuna()
    if direction not in DIRECTIONS:
        raise InvalidInputError(
            f"The 'direction' parameter of tune must be one of {', '.join(DIRECTIONS)}. "
            f"Got {direction!r} instead."
        )
    if not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1:
        raise InvalidInputError(
            f"The 'n_trials' parameter of tune must be an int >= 1. Got {n_trials!r} instead."
        )
    distributions = _check_space(space, objective, optuna)
    fixed = dict(params or {})
    if fixed and not isinstance(objective, Pipeline):
        raise InvalidInputError("params= fixes a pipeline's params; a function gets none.")
    ray_options(resources)
    study = optuna.create_study(
        direction=direction,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=pruner or optuna.pruners.MedianPruner(),
    )
    trials: list[TrialResult] = []
    label = name or getattr(objective, "name", None) or getattr(objective, "__name__", "tune")
    with (
        client_scope(client) as active,
        executor_scope(executor, active, workers, ray_address) as chosen,
    ):
        chosen.check(objective)
        if experiment is None:
            current = active_run()
            experiment = _experiment_of(current) if current is not None else "tuning"
        with start_run(
            experiment,
            {"n_trials": n_trials, "direction": direction},
            f"tune-{label}",
            tags={"loopml.executor": chosen.name},
            client=active,
        ) as search:
            if chosen.in_process:
                score = _scorer(objective, _Scoring(metric, fixed, trust_code), chosen)
                for _ in range(n_trials):
                    trials.append(_one_trial(study, distributions, score, active, experiment))
            else:
                search_spec = _Search(study, distributions, experiment, search.id, n_trials)
                job = (objective, _Scoring(metric, fixed, trust_code))
                trials = _parallel_trials(search_spec, job, active, chosen, resources)
            return _conclude(search, str(label), direction, trials)


def _experiment_of(run: ActiveRun) -> str:
    return run.client.get_experiment(run.experiment_id).name


def _conclude(
    search: ActiveRun, label: str, direction: str, trials: list[TrialResult]
) -> TuneResult:
    finished = [t for t in trials if t.state == "complete" and t.value is not None]
    if not finished:
        raise InvalidInputError(
            f"No trial of {label!r} finished (pruned or failed: see the trial runs under "
            f"{search.id})."
        )
    pick = max if direction == "maximize" else min
    best = pick(finished, key=lambda t: t.value if t.value is not None else math.nan)
    search.set_tags(
        {
            "loopml.best_params": json.dumps(best.params, sort_keys=True),
            "loopml.best_trial_run": best.run_id,
        }
    )
    search.log_metric("best_objective", float(best.value or 0.0))
    return TuneResult(search.id, direction, trials, best)


@dataclass(frozen=True)
class _Search:
    study: Any
    distributions: dict[str, Any]
    experiment: str
    run_id: str
    n_trials: int


def _parallel_trials(
    search: _Search,
    job: tuple[Objective, _Scoring],
    client: Client,
    executor: Executor,
    resources: Mapping[str, float] | None,
) -> list[TrialResult]:
    """Keep the executor full of trials (asked from the study as room frees up); tell the
    study each result as it comes. After a trial fails, ask for no more, let the running
    ones finish, and raise."""
    optuna = _optuna()
    running: dict[int, tuple[Any, ActiveRun]] = {}
    results: list[TrialResult] = []
    failure: StepFailedError | None = None
    try:
        while True:
            while (
                failure is None
                and len(running) < executor.capacity
                and (len(results) + len(running) < search.n_trials)
            ):
                asked = search.study.ask(search.distributions)
                params = dict(asked.params)
                opened = client.create_run(
                    search.experiment,
                    name=f"trial-{asked.number}",
                    parent_run_id=search.run_id,
                    tags={"loopml.trial": str(asked.number)},
                    capture_system_info=False,  # the search run has it
                )
                trial_run = ActiveRun(client, opened)
                trial_run.log_params(params)
                args = (*job, asked.number, params, opened)
                running[executor.submit(_trial_job, args, resources=resources)] = (
                    asked,
                    trial_run,
                )
            if not running:
                break
            for finished in executor.wait():
                asked, trial_run = running.pop(finished.ticket)
                params = dict(asked.params)
                if finished.error is not None:
                    search.study.tell(asked, state=optuna.trial.TrialState.FAIL)
                    trial_run.set_tag("loopml.trial_state", "failed")
                    trial_run.end(RunStatus.FAILED)
                    results.append(TrialResult(asked.number, trial_run.id, params, None, "failed"))
                    failure = failure or StepFailedError(
                        f"Trial {asked.number} failed: {finished.error}. Its run is {trial_run.id}."
                    )
                    continue
                value = float(finished.value)
                search.study.tell(asked, value)
                trial_run.log_metric("objective", value)
                trial_run.set_tag("loopml.trial_state", "complete")
                trial_run.end(RunStatus.FINISHED)
                results.append(TrialResult(asked.number, trial_run.id, params, value, "complete"))
    except BaseException:
        for _, trial_run in running.values():
            trial_run.end(RunStatus.KILLED)
        raise
    if failure is not None:
        raise failure
    return sorted(results, key=lambda t: t.number)


def _trial_job(
    client: Client,
    objective: Objective,
    scoring: _Scoring,
    number: int,
    params: dict[str, Any],
    run: Run,
) -> float:
    """One trial in a worker: the objective with its run as the current run."""
    with attached_run(client, run) as trial_run:
        score = _scorer(objective, scoring, executor="local")
        return float(score(params, Trial(number, params, trial_run)))


def _one_trial(
    study: Any,
    distributions: dict[str, Any],
    score: Callable[[dict[str, Any], Trial], float],
    client: Client,
    experiment: str,
) -> TrialResult:
    optuna = _optuna()
    asked = study.ask(distributions)
    params = dict(asked.params)
    tags = {"loopml.trial": str(asked.number)}
    with start_run(
        experiment, params, f"trial-{asked.number}", tags=tags, client=client
    ) as trial_run:
        trial = Trial(asked.number, params, trial_run, asked)
        try:
            value = float(score(params, trial))
        except optuna.TrialPruned:
            study.tell(asked, state=optuna.trial.TrialState.PRUNED)
            trial_run.set_tag("loopml.trial_state", "pruned")
            return TrialResult(asked.number, trial_run.id, params, None, "pruned")
        except Exception:
            study.tell(asked, state=optuna.trial.TrialState.FAIL)
            raise
        trial_run.log_metric("objective", value)
        trial_run.set_tag("loopml.trial_state", "complete")
        study.tell(asked, value)
        return TrialResult(asked.number, trial_run.id, params, value, "complete")


def _check_space(space: Mapping[str, Any], objective: Objective, optuna: Any) -> dict[str, Any]:
    if not space:
        raise InvalidInputError("The search space of tune is empty; name at least one param.")
    for key, distribution in space.items():
        if not isinstance(distribution, optuna.distributions.BaseDistribution):
            raise InvalidInputError(
                f"Search space entry {key!r} must be uniform(), loguniform(), integer(), "
                f"choice() or an Optuna distribution. Got {distribution!r:.80} instead."
            )
    if isinstance(objective, Pipeline):
        unknown = sorted(set(space) - set(objective.params))
        if unknown:
            raise InvalidInputError(
                f"Pipeline {objective.name!r} has no param {unknown[0]!r} to tune. Its params: "
                f"{', '.join(objective.params) or 'none'}."
            )
    return dict(space)


@dataclass(frozen=True)
class _Scoring:
    """How a pipeline objective's trial is run and scored."""

    metric: str | None
    fixed: Mapping[str, Any]
    trust_code: bool = False


def _scorer(
    objective: Objective, scoring: _Scoring, executor: str | Executor | None = None
) -> Callable[[dict[str, Any], Trial], float]:
    if not isinstance(objective, Pipeline):
        return objective
    pipeline = objective
    metric = scoring.metric

    def score(params: dict[str, Any], trial: Trial) -> float:
        result = run(
            pipeline,
            params={**scoring.fixed, **params},
            client=trial.run.client,
            executor=executor,
            trust_code=scoring.trust_code,
        )
        trial.run.set_tag("loopml.pipeline_run", result.run_id)
        value = result.value()
        if isinstance(value, Mapping):
            if metric is None or metric not in value:
                raise InvalidInputError(
                    f"Pipeline {pipeline.name!r} returns a dict ({', '.join(map(str, value))}); "
                    "say which entry to optimise (metric=..., or --metric on the command line)."
                )
            value = value[metric]
        return _number(value, pipeline.name, metric)

    return score


def _number(value: Any, pipeline: str, metric: str | None) -> float:
    """``value`` as the trial's score; a pipeline that returns something else (a model, a
    table) is told what tune needs."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    what = type(value).__name__
    if metric is not None:
        raise InvalidInputError(
            f"Entry {metric!r} of pipeline {pipeline!r}'s output is a {what}, not a number; "
            "tune scores each trial by that number."
        )
    raise InvalidInputError(
        f"Pipeline {pipeline!r} returns a {what}, not a number; tune scores each trial by its "
        "pipeline's output. Return a number (the score to optimise), or a dict of metrics and "
        "name the entry with metric=... (--metric on the command line)."
    )


def cross_validate(
    estimator: Any,
    features: Any,
    labels: Any,
    *,
    cv: int = 5,
    scoring: Sequence[str] = ("accuracy",),
    run: ActiveRun | None = None,
) -> dict[str, float]:
    """scikit-learn cross-validation that logs every fold (metric ``<score>_fold`` at step =
    fold) and ``<score>_mean`` / ``<score>_std`` on ``run`` (default: the active run); returns
    the means."""
    from sklearn.model_selection import (  # type: ignore[import-untyped]
        cross_validate as sk_cross_validate,
    )

    target = run or active_run()
    results = sk_cross_validate(estimator, features, labels, cv=cv, scoring=list(scoring))
    means = {}
    for name in scoring:
        scores = [float(v) for v in results[f"test_{name}"]]
        mean = sum(scores) / len(scores)
        std = math.sqrt(sum((v - mean) ** 2 for v in scores) / len(scores))
        means[name] = mean
        if target is not None:
            for fold, value in enumerate(scores):
                target.log_metric(f"{name}_fold", value, step=fold)
            target.log_metrics({f"{name}_mean": mean, f"{name}_std": std})
    return means
