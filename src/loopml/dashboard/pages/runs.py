"""The runs page (``/ui/``): the experiments, and the runs of one (or of all but 'serving'),
newest first, a page at a time with the store's page tokens (as ``loopml runs list``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from loopml.core.entities import Experiment, Page, Run
from loopml.dashboard.formatting import duration, timestamp
from loopml.dashboard.sources import DashboardSources, Guarded
from loopml.dashboard.templating import page
from loopml.monitoring.log_store import EXPERIMENT as SERVING_EXPERIMENT
from loopml.stores.metadata.base import MetadataStore
from loopml.stores.metadata.run_store import RunQuery

SLUGS = ("",)
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
EXPERIMENTS_SHOWN = 200  # the side list; more are reached by their id in the address
METRICS_SHOWN = 4


@dataclass(frozen=True)
class RunRow:
    id: str
    name: str
    status: str
    started: str
    duration: str
    experiment: str
    metrics: str


def add_routes(router: APIRouter, sources: DashboardSources, guarded: Guarded) -> None:
    router.add_api_route(
        "/",
        handler(sources.metadata),
        methods=["GET"],
        dependencies=guarded("runs:read"),
        summary="The dashboard: experiments and their runs, a page at a time (HTML).",
        response_class=HTMLResponse,
    )


def handler(metadata: MetadataStore) -> Callable[..., HTMLResponse]:
    def dashboard_runs(
        request: Request,
        experiment: Annotated[
            str | None,
            Query(max_length=200, description="An experiment's name or id; all when absent."),
        ] = None,
        page_token: Annotated[
            str | None, Query(max_length=2000, description="The page's token (from 'Next').")
        ] = None,
        per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = DEFAULT_PER_PAGE,
    ) -> HTMLResponse:
        experiments = metadata.list_experiments(max_results=EXPERIMENTS_SHOWN)
        names = {each.id: each.name for each in experiments}
        selected = _experiment(metadata, experiment) if experiment else None
        if selected is not None:
            names[selected.id] = selected.name
        shown = [selected.id] if selected else _all_but_serving(experiments)
        runs: Page[Run] = Page([])
        if shown is not None:
            query = RunQuery(experiment_ids=shown, max_results=per_page, page_token=page_token)
            runs = metadata.search_runs(query)
        here = {"experiment": experiment, "per_page": per_page}
        return page(
            request,
            "runs.html",
            "",
            {
                "experiments": list(experiments),
                "more_experiments": experiments.next_page_token is not None,
                "selected": selected,
                "rows": [_row(run, names) for run in runs],
                "next_query": _query(here, page_token=runs.next_page_token)
                if runs.next_page_token
                else None,
                "first_query": _query(here) if page_token else None,
            },
        )

    return dashboard_runs


def _experiment(metadata: MetadataStore, name_or_id: str) -> Experiment:
    """The experiment by name or id, as ``loopml runs list --experiment`` takes it."""
    return metadata.get_experiment_by_name(name_or_id) or metadata.get_experiment(name_or_id)


def _all_but_serving(experiments: Page[Experiment]) -> list[str] | None:
    """The ids of the experiments but 'serving' (the prediction logs of 'loopml serve'), as
    ``loopml runs list`` shows them; None when that leaves none (no runs to show). With more
    experiments than one page lists, [] (every experiment's runs: the store's "all")."""
    if experiments.next_page_token is not None:
        return []
    ids = [each.id for each in experiments if each.name != SERVING_EXPERIMENT]
    return ids or None


def _row(run: Run, names: dict[str, str]) -> RunRow:
    metrics = sorted(run.metrics.items())[:METRICS_SHOWN]
    return RunRow(
        id=run.id,
        name=run.name,
        status=str(run.status),
        started=timestamp(run.start_time),
        duration=duration(run.start_time, run.end_time),
        experiment=names.get(run.experiment_id, run.experiment_id),
        metrics=", ".join(f"{key}={value:.4g}" for key, value in metrics),
    )


def _query(values: dict[str, str | int | None], **more: str | None) -> str:
    return urlencode({k: v for k, v in {**values, **more}.items() if v is not None})
