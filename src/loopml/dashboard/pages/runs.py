"""The runs page (``/ui/``): the experiments, and the runs of one (or of all but 'serving'),
a page at a time with the store's page tokens (as ``loopml runs list``): sorted by a column,
filtered in the search language of :mod:`loopml.core.filters`, searched by name, with the
params and metrics columns the address names. The store sorts and filters; the page only
renders what one store query returned. The compare page (``/ui/compare``) is in
:mod:`loopml.dashboard.pages.compare`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from loopml.core.entities import Experiment, Page, Run
from loopml.core.errors import FilterSyntaxError, InvalidInputError
from loopml.core.filters import parse_filter
from loopml.dashboard.formatting import duration, timestamp
from loopml.dashboard.pages import compare
from loopml.dashboard.sources import DashboardSources, Guarded
from loopml.dashboard.templating import page
from loopml.monitoring.log_store import EXPERIMENT as SERVING_EXPERIMENT
from loopml.stores.metadata.base import MetadataStore
from loopml.stores.metadata.run_store import RunQuery

SLUGS = ("",)
DEFAULT_PER_PAGE = 50
PER_PAGE_CHOICES = (20, 50, 100, 200)
MAX_PER_PAGE = 200
EXPERIMENTS_SHOWN = 200  # the side list; more are reached by their id in the address
METRICS_SHOWN = 4  # the metric columns shown when the address names none
MAX_COLUMNS = 30
MAX_OFFERED = 60  # keys offered in the column chooser (those of the runs on the page)
SORTABLE_ATTRIBUTES = ("start_time", "name", "status", "duration")
COLUMN_PREFIXES = ("metrics.", "params.")

Direction = Literal["asc", "desc"]


@dataclass(frozen=True)
class RunRow:
    id: str
    name: str
    status: str
    started: str
    duration: str
    experiment: str
    cells: list[str]  # one per chosen column


@dataclass(frozen=True)
class Header:
    """A sortable column's header: its label, the link that sorts by it, and its aria-sort."""

    label: str
    href: str
    sort: str  # "ascending", "descending" or "none"


@dataclass(frozen=True)
class View:
    """What the address asks the table to show (everything but the page token)."""

    experiment: str | None
    filter: str | None
    search: str | None
    sort: str
    direction: Direction
    columns: list[str] | None  # None: not chosen (the first metrics of the page)
    per_page: int

    def query(self, **changes: object) -> str:
        """The address's query for this view with ``changes`` (a page token, a sort)."""
        values: dict[str, object] = {
            "experiment": self.experiment,
            "filter": self.filter,
            "q": self.search,
            "sort": self.sort,
            "dir": self.direction,
            "per_page": self.per_page,
            **changes,
        }
        pairs = [(k, str(v)) for k, v in values.items() if v is not None and v != ""]
        if self.columns is not None:  # an empty choice stays a choice
            pairs += [("cols", column) for column in self.columns] or [("cols", "")]
        return urlencode(pairs)


def add_routes(router: APIRouter, sources: DashboardSources, guarded: Guarded) -> None:
    router.add_api_route(
        "/",
        handler(sources.metadata),
        methods=["GET"],
        dependencies=guarded("runs:read"),
        summary="The dashboard: experiments and their runs, a page at a time (HTML).",
        response_class=HTMLResponse,
    )
    compare.add_routes(router, sources, guarded)


def handler(metadata: MetadataStore) -> Callable[..., HTMLResponse]:
    def dashboard_runs(
        request: Request,
        experiment: Annotated[
            str | None,
            Query(max_length=200, description="An experiment's name or id; all when absent."),
        ] = None,
        filter: Annotated[
            str | None,
            Query(max_length=2000, description="A search, e.g. metrics.auc > 0.9 (as --filter)."),
        ] = None,
        q: Annotated[
            str | None, Query(max_length=200, description="Runs whose name holds this text.")
        ] = None,
        sort: Annotated[
            str,
            Query(
                max_length=300,
                description="start_time, name, status, duration, metrics.KEY or params.KEY.",
            ),
        ] = "start_time",
        dir: Annotated[Direction, Query(description="asc or desc.")] = "desc",
        cols: Annotated[
            list[str] | None,
            Query(max_length=300, description="The metrics.KEY / params.KEY columns shown."),
        ] = None,
        page_token: Annotated[
            str | None, Query(max_length=2000, description="The page's token (from 'Next').")
        ] = None,
        per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = DEFAULT_PER_PAGE,
    ) -> HTMLResponse:
        view = View(
            experiment=experiment,
            filter=filter.strip() if filter and filter.strip() else None,
            search=q.strip() if q and q.strip() else None,
            sort=_checked_sort(sort),
            direction=dir,
            columns=None if cols is None else _checked_columns(cols),
            per_page=per_page,
        )
        experiments = metadata.list_experiments(max_results=EXPERIMENTS_SHOWN)
        names = {each.id: each.name for each in experiments}
        selected = _experiment(metadata, experiment) if experiment else None
        if selected is not None:
            names[selected.id] = selected.name
        shown = [selected.id] if selected else _all_but_serving(experiments)
        filter_error = _filter_error(view.filter)
        runs: Page[Run] = Page([])
        if shown is not None and filter_error is None:
            query = RunQuery(
                experiment_ids=shown,
                filter=_store_filter(view.filter, view.search),
                order_by=[_order_by(view.sort, view.direction)],
                max_results=per_page,
                page_token=page_token,
            )
            runs = metadata.search_runs(query)
        columns = view.columns if view.columns is not None else _first_metrics(runs.items)
        values = {
            "experiments": list(experiments),
            "more_experiments": experiments.next_page_token is not None,
            "selected": selected,
            "view": view,
            "columns": columns,
            "offered": _offered(runs.items, columns),
            "headers": _headers(view, columns),
            "rows": [_row(run, names, columns) for run in runs],
            "per_page_choices": PER_PAGE_CHOICES,
            "filter_error": filter_error,
            "next_query": view.query(page_token=runs.next_page_token)
            if runs.next_page_token
            else None,
            "first_query": view.query() if page_token else None,
            "max_compared": compare.MAX_RUNS,
        }
        answer = page(request, "runs.html", "", values)
        if filter_error is not None:
            answer.status_code = 400
        return answer

    return dashboard_runs


@dataclass(frozen=True)
class FilterError:
    problem: str
    text: str
    caret: str  # spaces then ^ under the position of the error


def _filter_error(text: str | None) -> FilterError | None:
    """The filter's syntax error, parsed as the store parses it, to show under the box."""
    try:
        parse_filter(text)
    except FilterSyntaxError as error:
        shown = error.text or text or ""
        return FilterError(error.problem, shown, " " * error.position + "^")
    return None


def _store_filter(text: str | None, search: str | None) -> str | None:
    """The filter the store runs: the page's filter and the name search, joined by 'and'."""
    if search is None:
        return text
    pattern = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    quoted = pattern.replace("\\", "\\\\").replace("'", "\\'")
    clause = f"name ilike '%{quoted}%'"
    return f"{text} and {clause}" if text else clause


def _checked_sort(sort: str) -> str:
    if sort in SORTABLE_ATTRIBUTES or _column_key(sort) is not None:
        return sort
    raise InvalidInputError(
        f"The runs page cannot sort by {sort!r}: use one of {', '.join(SORTABLE_ATTRIBUTES)}, "
        "metrics.KEY or params.KEY."
    )


def _checked_columns(columns: Sequence[str]) -> list[str]:
    chosen = list(dict.fromkeys(column for column in columns if column))
    if len(chosen) > MAX_COLUMNS:
        raise InvalidInputError(
            f"The runs page shows at most {MAX_COLUMNS} columns; {len(chosen)} were asked for."
        )
    for column in chosen:
        if _column_key(column) is None:
            raise InvalidInputError(
                f"Unknown column {column!r}: a column is metrics.KEY or params.KEY."
            )
    return chosen


def _column_key(column: str) -> tuple[str, str] | None:
    """``metrics.auc`` → ``("metrics", "auc")``; None when it is not such a column."""
    prefix, dot, key = column.partition(".")
    if not dot or f"{prefix}." not in COLUMN_PREFIXES or not key or "`" in key:
        return None
    return prefix, key


def _order_by(sort: str, direction: Direction) -> str:
    """The store's order_by item; a key is back-quoted, so any character but ` works."""
    column = _column_key(sort)
    field = sort if column is None else f"{column[0]}.`{column[1]}`"
    return f"{field} {direction.upper()}"


def _headers(view: View, columns: list[str]) -> dict[str, Header]:
    """Each sortable column's header; its link sorts by it (the other way when it already
    does, newest or largest first otherwise) from the first page."""
    labels = {"name": "Name", "status": "Status", "start_time": "Started", "duration": "Duration"}
    labels.update({column: column for column in columns})
    headers = {}
    for column, label in labels.items():
        sorted_by = view.sort == column
        if sorted_by:
            direction: Direction = "asc" if view.direction == "desc" else "desc"
        else:
            direction = "asc" if column in ("name", "status") else "desc"
        aria = ("ascending" if view.direction == "asc" else "descending") if sorted_by else "none"
        headers[column] = Header(label, view.query(sort=column, dir=direction), aria)
    return headers


def _first_metrics(runs: Sequence[Run]) -> list[str]:
    keys = sorted({key for run in runs for key in run.metrics})
    return [f"metrics.{key}" for key in keys[:METRICS_SHOWN]]


def _offered(runs: Sequence[Run], columns: list[str]) -> list[str]:
    """The columns the chooser offers: the chosen ones, then the keys of the runs shown."""
    metrics = sorted({f"metrics.{key}" for run in runs for key in run.metrics})
    params = sorted({f"params.{key}" for run in runs for key in run.params})
    return list(dict.fromkeys([*columns, *metrics, *params]))[: MAX_OFFERED + len(columns)]


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


def _row(run: Run, names: dict[str, str], columns: list[str]) -> RunRow:
    return RunRow(
        id=run.id,
        name=run.name,
        status=str(run.status),
        started=timestamp(run.start_time),
        duration=duration(run.start_time, run.end_time),
        experiment=names.get(run.experiment_id, run.experiment_id),
        cells=[_cell(run, column) for column in columns],
    )


def _cell(run: Run, column: str) -> str:
    prefix, _, key = column.partition(".")
    if prefix == "metrics":
        value = run.metrics.get(key)
        return "" if value is None else f"{value:.4g}"
    return run.params.get(key, "")
