"""The compare page (``/ui/compare?run=ID&run=ID…``): 2 to 10 runs side by side, as
``loopml runs compare`` shows them: params with the differing rows marked, metrics with the
best value marked (by :func:`loopml.tracking.comparison.best_run`), metric curves overlaid
(``static/compare.js`` reads each run's series from ``/ui/runs/{id}/series``) and, when the
runs are trials of one study (they share a parent run), the study's trials as a
parallel-coordinates plot. Its route is added by the runs page (:mod:`.runs`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from loopml.core.entities import Run
from loopml.core.errors import InvalidInputError
from loopml.dashboard.formatting import duration, timestamp
from loopml.dashboard.parallel_coordinates import Plot, objective_of, parallel_coordinates
from loopml.dashboard.sources import DashboardSources, Guarded
from loopml.dashboard.templating import page
from loopml.stores.metadata.base import MetadataStore
from loopml.stores.metadata.run_store import RunQuery
from loopml.tracking.comparison import best_run, lower_is_better

MIN_RUNS, MAX_RUNS = 2, 10
MAX_TRIALS = 500  # the trials of a study drawn in its parallel-coordinates plot
CURVES_SHOWN = 4  # metric curves drawn at first; the others are a tick away
SERIES_POINTS = 500  # points per curve asked of the series endpoint


@dataclass(frozen=True)
class Column:
    id: str
    name: str
    status: str
    experiment: str
    started: str
    duration: str


@dataclass(frozen=True)
class ParamRow:
    key: str
    values: list[str]  # "" where a run lacks the param
    differs: bool


@dataclass(frozen=True)
class MetricRow:
    key: str
    values: list[str]
    best: int | None  # the index of the best run's value
    lower_is_better: bool


@dataclass(frozen=True)
class Study:
    parent: Run
    objective: str
    trials: int  # how many were read (at most MAX_TRIALS)
    more: bool  # the study has more trials than were drawn
    plot: Plot | None


def add_routes(router: APIRouter, sources: DashboardSources, guarded: Guarded) -> None:
    router.add_api_route(
        "/compare",
        handler(sources.metadata),
        methods=["GET"],
        dependencies=guarded("runs:read"),
        summary="Runs side by side: params, metrics, curves, a study's trials (HTML).",
        response_class=HTMLResponse,
    )


def handler(metadata: MetadataStore) -> Callable[..., HTMLResponse]:
    def dashboard_compare(
        request: Request,
        run: Annotated[
            list[str] | None,
            Query(max_length=64, description=f"{MIN_RUNS} to {MAX_RUNS} run ids."),
        ] = None,
    ) -> HTMLResponse:
        ids = list(dict.fromkeys(run or []))
        if not MIN_RUNS <= len(ids) <= MAX_RUNS:
            raise InvalidInputError(
                f"Compare takes {MIN_RUNS} to {MAX_RUNS} different runs (run=ID, repeated); "
                f"got {len(ids)}. Tick them on the runs page, then press Compare."
            )
        runs = [metadata.get_run(run_id) for run_id in ids]
        experiments = {r.experiment_id: metadata.get_experiment(r.experiment_id) for r in runs}
        metric_keys = sorted({key for r in runs for key in r.metrics})
        curves = {
            "series": [f"{request.scope.get('root_path', '')}/ui/runs/{r.id}/series" for r in runs],
            "names": [r.name for r in runs],
            # which runs have each metric: only theirs are asked for
            "has": {k: [i for i, r in enumerate(runs) if k in r.metrics] for k in metric_keys},
            "points": SERIES_POINTS,
        }
        return page(
            request,
            "compare.html",
            "",
            {
                "columns": [_column(r, experiments[r.experiment_id].name) for r in runs],
                "params": _param_rows(runs),
                "metrics": _metric_rows(runs, metric_keys),
                "curve_keys": metric_keys,
                "curves_shown": CURVES_SHOWN,
                # "<" escaped: a run named "</script>" stays inside the JSON block
                "curves_json": json.dumps(curves).replace("<", "\\u003c"),
                "study": _study(metadata, runs),
                "max_trials": MAX_TRIALS,
            },
        )

    return dashboard_compare


def _column(run: Run, experiment: str) -> Column:
    return Column(
        id=run.id,
        name=run.name,
        status=str(run.status),
        experiment=experiment,
        started=timestamp(run.start_time),
        duration=duration(run.start_time, run.end_time),
    )


def _param_rows(runs: Sequence[Run]) -> list[ParamRow]:
    keys = sorted({key for r in runs for key in r.params})
    rows = []
    for key in keys:
        values = [r.params.get(key) for r in runs]
        rows.append(ParamRow(key, [v or "" for v in values], len(set(values)) > 1))
    return rows


def _metric_rows(runs: Sequence[Run], keys: Sequence[str]) -> list[MetricRow]:
    rows = []
    for key in keys:
        values = {r.id: r.metrics.get(key) for r in runs}
        best = best_run(values, key)
        best_index = [r.id for r in runs].index(best) if best is not None else None
        texts = ["" if v is None else f"{v:.6g}" for v in values.values()]
        rows.append(MetricRow(key, texts, best_index, lower_is_better(key)))
    return rows


def _study(metadata: MetadataStore, runs: Sequence[Run]) -> Study | None:
    """The study the runs are trials of (one parent for all of them), with its plot."""
    parents = {r.parent_run_id for r in runs}
    parent_id = parents.pop() if len(parents) == 1 else None
    if parent_id is None:
        return None
    parent = metadata.get_run(parent_id)
    page_of = metadata.search_runs(
        RunQuery(parent_run_id=parent_id, max_results=MAX_TRIALS, order_by=["start_time ASC"])
    )
    trials = list(page_of)
    objective = objective_of(trials)
    if objective is None:
        return None
    # a tuning search records its direction as a param (loopml.tune)
    direction = parent.params.get("direction")
    higher = direction != "minimize" if direction else not lower_is_better(objective)
    plot = parallel_coordinates(trials, objective, [r.id for r in runs], higher_is_better=higher)
    return Study(parent, objective, len(trials), page_of.next_page_token is not None, plot)
