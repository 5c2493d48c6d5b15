"""The datasets pages (``/ui/data``): the datasets, a dataset's versions, a version's profile
and inferred schema, a check of a version against its predecessor's schema, and the diff of
two versions with a drift score per column.

Each page calls what the CLI calls: ``loopml data list`` / ``log`` (the store's dataset
versions), ``data show`` (the stored profiles), ``data schema`` (``infer_schema``), ``data
diff`` (:func:`loopml.data.version_diff.diff`) and ``data validate`` (``validate_files``).
Columns come a page at a time, so a table of thousands of columns stays one screen.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path as LocalPath
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from loopml.core.entities import DatasetVersion, Page
from loopml.core.errors import BackendUnavailableError, InvalidInputError, NotFoundError
from loopml.core.refs import check_dataset_name, format_dataset_ref
from loopml.core.roles import Permission
from loopml.dashboard.bar_chart import BarChart, histogram_bars
from loopml.dashboard.formatting import timestamp
from loopml.dashboard.sources import DashboardSources, Guarded
from loopml.dashboard.templating import page
from loopml.data.profiles import ColumnProfile, TableProfile
from loopml.data.versions import VersionHandle
from loopml.stores.artifacts.base import ArtifactStore
from loopml.stores.metadata.base import MetadataStore

SLUGS = ("data",)
PERMISSION: Permission = "datasets:read"
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
COLUMNS_PER_PAGE = 40  # a profile or diff shows this many columns, then a "next" link
MAX_OFFSET = 1_000_000
TABLES_LISTED = 200
FILES_LISTED = 50  # per kind of change in a diff
READERS_LISTED = 50  # runs that read a version
VALIDATE_MAX_BYTES = 200 * 1024 * 1024  # bigger versions: 'loopml data validate' instead
NAME = Annotated[str, Path(min_length=1, max_length=250, description="The dataset's name.")]
VERSION = Annotated[int, Path(ge=1, le=2**31, description="The version number.")]
TABLE = Annotated[
    str | None,
    Query(max_length=1000, description="A table's path in the version (default: the first)."),
]
TOKEN = Annotated[
    str | None, Query(max_length=4000, description="The store's token of the page to show.")
]
OFFSET = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="The first column shown.")]
T = TypeVar("T")


@dataclass(frozen=True)
class ColumnView:
    """One column of a profile, as its row shows it."""

    name: str
    logical_type: str
    physical_type: str
    count: int
    missing: int
    missing_share: str
    distinct: str
    min: str
    max: str
    mean: str
    histogram: BarChart | None
    top: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Window:
    """A slice of a long list: where it starts, where the previous and next slices start."""

    start: int
    end: int
    total: int
    previous: int | None
    next: int | None


def add_routes(router: APIRouter, sources: DashboardSources, guarded: Guarded) -> None:
    routes: list[tuple[str, Callable[..., HTMLResponse], str]] = [
        ("/data", _datasets(sources), "The datasets and their newest versions (HTML)."),
        ("/data/{name}", _dataset(sources), "A dataset's versions, newest first (HTML)."),
        ("/data/{name}/diff", _diff(sources), "Two versions compared, drift per column (HTML)."),
        ("/data/{name}/{version}", _version(sources), "A version's profile and schema (HTML)."),
        (
            "/data/{name}/{version}/validation",
            _validation(sources),
            "A version checked against the schema inferred from another (HTML).",
        ),
    ]
    for path, handler, summary in routes:
        router.add_api_route(
            path,
            handler,
            methods=["GET"],
            dependencies=guarded(PERMISSION),
            summary=summary,
            response_class=HTMLResponse,
        )


# handlers ------------------------------------------------------------------------------------
def _datasets(sources: DashboardSources) -> Callable[..., HTMLResponse]:
    def dashboard_datasets(
        request: Request,
        page_token: TOKEN = None,
        per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = DEFAULT_PER_PAGE,
    ) -> HTMLResponse:
        # as 'loopml data list', one page read from the store
        newest = sources.metadata.page_dataset_versions(
            None, max_results=per_page, page_token=page_token
        )
        return page(
            request,
            "datasets.html",
            "data",
            {
                "rows": [_version_row(v) for v in newest],
                "pages": _pages(newest.next_page_token, page_token, per_page),
                "per_page": per_page,
            },
        )

    return dashboard_datasets


def _dataset(sources: DashboardSources) -> Callable[..., HTMLResponse]:
    def dashboard_dataset(
        request: Request,
        name: NAME,
        page_token: TOKEN = None,
        per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = DEFAULT_PER_PAGE,
    ) -> HTMLResponse:
        versions = _log(sources.metadata, name, per_page, page_token)  # newest first
        # the compare form offers the newest versions, whatever the page shows
        newest = (
            versions
            if page_token is None and per_page == MAX_PER_PAGE
            else _log(sources.metadata, name, MAX_PER_PAGE, None)
        )
        return page(
            request,
            "datasets_dataset.html",
            "data",
            {
                "name": name,
                "quoted": quote(name, safe=""),
                "rows": [_version_row(v) for v in versions],
                "numbers": [v.version for v in newest],
                "pages": _pages(versions.next_page_token, page_token, per_page),
                "per_page": per_page,
            },
        )

    return dashboard_dataset


def _readers(metadata: MetadataStore, dataset: str, version: int) -> dict[str, Any]:
    """The runs that read this version (its lineage downstream, as ``loopml lineage`` starts
    it): the first ``READERS_LISTED`` and how many there are."""
    edges = [e for e in metadata.list_dataset_inputs(dataset=dataset) if e.version == version]
    readers: list[tuple[str, str]] = []
    for edge in edges[:READERS_LISTED]:
        try:
            readers.append((edge.run_id, metadata.get_run(edge.run_id).name))
        except NotFoundError:  # deleted since
            continue
    return {"readers": readers, "reader_count": len({e.run_id for e in edges})}


def _version(sources: DashboardSources) -> Callable[..., HTMLResponse]:
    def dashboard_dataset_version(
        request: Request, name: NAME, version: VERSION, table: TABLE = None, start: OFFSET = 0
    ) -> HTMLResponse:
        handle = _handle(sources, name, version)
        profiles = handle.profiles()
        chosen = _chosen_table(handle.ref, profiles, table)
        values: dict[str, Any] = {
            "name": name,
            "quoted": quote(name, safe=""),
            "shown": _version_row(handle.version),
            "tables": list(profiles)[:TABLES_LISTED],
            "more_tables": len(profiles) > TABLES_LISTED,
            "table": chosen,
            "profile": None,
            "columns": [],
            "schema": [],
            "window": _window(0, 0, COLUMNS_PER_PAGE),
            "previous_version": _previous(sources.metadata, name, version),
            **_readers(sources.metadata, handle.version.dataset, handle.version.version),
        }
        if chosen is not None:
            profile = profiles[chosen]
            window = _window(len(profile.columns), start, COLUMNS_PER_PAGE)
            shown = profile.columns[window.start : window.end]
            values.update(
                profile=profile,
                columns=[_column_view(column) for column in shown],
                schema=_schema_rows(profile, {c.name for c in shown}),
                window=window,
                here=urlencode({"table": chosen}),
            )
        return page(request, "datasets_version.html", "data", values)

    return dashboard_dataset_version


def _diff(sources: DashboardSources) -> Callable[..., HTMLResponse]:
    def dashboard_dataset_diff(
        request: Request,
        name: NAME,
        a: Annotated[int, Query(ge=1, le=2**31, description="The reference version.")],
        b: Annotated[int, Query(ge=1, le=2**31, description="The version compared with a.")],
        table: TABLE = None,
        start: OFFSET = 0,
    ) -> HTMLResponse:
        from loopml.data.version_diff import diff

        result = diff(_handle(sources, name, a), _handle(sources, name, b))  # 'loopml data diff'
        paths = [each.path for each in result.tables]
        chosen = result.table(table) if table is not None else None
        if chosen is None and result.tables:
            chosen = result.tables[0]
        window = _window(len(chosen.columns) if chosen else 0, start, COLUMNS_PER_PAGE)
        return page(
            request,
            "datasets_diff.html",
            "data",
            {
                "name": name,
                "quoted": quote(name, safe=""),
                "a": a,
                "b": b,
                "result": result,
                "files": {
                    kind: list(getattr(result.files, kind))[:FILES_LISTED]
                    for kind in ("added", "removed", "changed")
                },
                "files_listed": FILES_LISTED,
                "tables": paths[:TABLES_LISTED],
                "table": chosen,
                "columns": list(chosen.columns[window.start : window.end]) if chosen else [],
                "window": window,
                "here": urlencode({"a": a, "b": b, **({"table": chosen.path} if chosen else {})}),
            },
        )

    return dashboard_dataset_diff


def _validation(sources: DashboardSources) -> Callable[..., HTMLResponse]:
    def dashboard_dataset_validation(
        request: Request,
        name: NAME,
        version: VERSION,
        against: Annotated[
            int,
            Query(ge=1, le=2**31, description="The version whose inferred schema is checked."),
        ],
    ) -> HTMLResponse:
        from loopml.data.versions import validate_files

        checked = _handle(sources, name, version)
        reference = _handle(sources, name, against)
        if checked.version.size > VALIDATE_MAX_BYTES:
            raise InvalidInputError(
                f"{checked.ref} holds {checked.version.size:,} bytes; the dashboard checks up to "
                f"{VALIDATE_MAX_BYTES:,}. Run 'loopml data get {checked.ref} --to DIR' and "
                f"'loopml data validate {name} DIR' instead."
            )
        if not checked.tables():
            raise InvalidInputError(f"{checked.ref} holds no table file to check.")
        with tempfile.TemporaryDirectory(prefix="loopml-ui-validate-") as scratch:
            folder = VersionHandle(checked.version, checked.artifacts, LocalPath(scratch)).path()
            reports = validate_files(folder, reference=reference)  # as 'loopml data validate'
            prefix = f"{folder}/"
            shown = [
                (report.source.removeprefix(prefix), report) for report in reports[:TABLES_LISTED]
            ]
        return page(
            request,
            "datasets_validation.html",
            "data",
            {
                "name": name,
                "quoted": quote(name, safe=""),
                "checked": checked.ref,
                "reference": reference.ref,
                "number": version,
                "reports": shown,
            },
        )

    return dashboard_dataset_validation


# helpers -------------------------------------------------------------------------------------
def _log(metadata: MetadataStore, name: str, size: int, token: str | None) -> Page[DatasetVersion]:
    """A page of the versions of ``name``, newest first (as ``loopml data log``), read from
    the store; an unknown dataset is the store's NotFoundError."""
    check_dataset_name(name)
    versions = metadata.page_dataset_versions(
        name, max_results=size, page_token=token, newest_first=True
    )
    if not versions.items and token is None:
        metadata.get_dataset_version(name)  # raises NotFoundError naming what exists
    return versions


def _pages(next_token: str | None, token: str | None, per_page: int) -> dict[str, str | None]:
    """The query strings of the next page (the store's token) and of the first one."""
    return {
        "next": urlencode({"per_page": per_page, "page_token": next_token}) if next_token else None,
        "first": urlencode({"per_page": per_page}) if token else None,
    }


def _handle(sources: DashboardSources, name: str, version: int) -> VersionHandle:
    check_dataset_name(name)
    found = sources.metadata.get_dataset_version(name, version)
    return VersionHandle(found, _artifacts(sources), LocalPath(tempfile.gettempdir()))


def _artifacts(sources: DashboardSources) -> ArtifactStore:
    if sources.artifacts is None:
        raise BackendUnavailableError(
            "This dashboard was started without the artifact store, where the profiles of "
            "dataset versions are kept; 'loopml data show NAME@N' shows them."
        )
    return sources.artifacts


def _previous(metadata: MetadataStore, name: str, version: int) -> int | None:
    """The newest version before ``version`` (what 'data add --require-valid' checks a new
    version against), or None."""
    token: str | None = None
    while True:  # newest first: read only down to the version, a page at a time
        versions = metadata.page_dataset_versions(
            name, max_results=MAX_PER_PAGE, page_token=token, newest_first=True
        )
        for each in versions:
            if each.version < version:
                return each.version
        token = versions.next_page_token
        if token is None:
            return None


def _chosen_table(ref: str, profiles: dict[str, TableProfile], table: str | None) -> str | None:
    if table is None:
        return next(iter(profiles), None)
    if table not in profiles:
        listed = ", ".join(list(profiles)[:10]) or "none"
        raise NotFoundError(f"{ref} has no table {table!r}. Its tables: {listed}.")
    return table


def _window(total: int, start: int, size: int) -> Window:
    begin = min(start, max(total - 1, 0))
    end = min(begin + size, total)
    return Window(
        start=begin,
        end=end,
        total=total,
        previous=max(begin - size, 0) if begin > 0 else None,
        next=end if end < total else None,
    )


def _version_row(version: DatasetVersion) -> dict[str, Any]:
    return {
        "dataset": version.dataset,
        "quoted": quote(version.dataset, safe=""),
        "version": version.version,
        "ref": format_dataset_ref(version.dataset, version.version),
        "created": timestamp(version.created_at),
        "message": version.message,
        "size": _size(version.size),
        "files": version.file_count,
        "source": version.source or "",
        "run_id": version.run_id,
    }


def _column_view(column: ColumnProfile) -> ColumnView:
    hist = column.histogram
    return ColumnView(
        name=column.name,
        logical_type=column.logical_type.value,
        physical_type=column.physical_type,
        count=column.count,
        missing=column.missing,
        missing_share=f"{column.missing / column.count:.1%}" if column.count else "",
        distinct=f"{column.distinct:,}" if column.distinct_is_exact else f"≈{column.distinct:,}",
        min=_cell(column.min),
        max=_cell(column.max),
        mean=_cell(column.mean),
        histogram=histogram_bars(hist.edges, hist.counts) if hist and hist.counts else None,
        top=tuple((c.value, c.count) for c in column.top_categories[:5]),
    )


def _schema_rows(profile: TableProfile, shown: set[str]) -> list[dict[str, str]]:
    """The schema ``loopml data schema`` infers (``VersionHandle.schema``: ``infer_schema``
    of the table's profile), for the columns shown."""
    from loopml.data.schema import infer_schema

    schema = infer_schema(profile)
    rows = []
    for column in schema.columns:
        if column.name not in shown:
            continue
        rows.append(
            {
                "name": column.name,
                "type": column.type.value,
                "nullable": "yes" if column.nullable else "no",
                "range": _range(column.min, column.max),
                "allowed": ", ".join(_first(column.allowed or [], 20)),
                "note": schema.notes.get(column.name, ""),
            }
        )
    return rows


def _range(low: object, high: object) -> str:
    if low is None and high is None:
        return ""
    return f"{_cell(low)} … {_cell(high)}"  # type: ignore[arg-type]


def _first(items: Sequence[T], count: int) -> list[T]:
    return list(items[:count])


def _cell(value: float | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _size(size: int) -> str:
    amount = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{size} B"
