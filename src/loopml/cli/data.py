"""``loopml data``: version datasets, inspect their profiles, validate new data."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from loopml.cli import output
from loopml.cli.resolve import open_client
from loopml.core.entities import DatasetVersion
from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.core.hashing import Digest
from loopml.core.refs import format_dataset_ref, parse_dataset_ref
from loopml.stores.artifacts.trees import materialize_tree
from loopml.tracking.client import Client

if TYPE_CHECKING:
    from rich.progress import TaskID
    from rich.table import Table

    from loopml.data.profiles import TableProfile
    from loopml.data.schema import Schema
    from loopml.data.validation import ValidationReport
    from loopml.data.version_diff import ColumnStats, DatasetDiff, TableDiff
    from loopml.data.versions import DatasetStatus

app = typer.Typer(
    help=(
        "Version datasets (files or folders), see their profiles, validate new data.\n\n"
        "A version is written NAME@3; NAME@latest or just NAME means the newest."
    ),
    no_args_is_help=True,
)

_NUMERIC = ("numeric", "integer")
_LISTED_CHANGES = 20  # changed paths printed per kind; --json has them all

SchemaOption = Annotated[
    Path | None,
    typer.Option("--schema", help="A schema YAML file (see 'loopml data schema')."),
]


# add -----------------------------------------------------------------------------------------
@app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="Dataset name, e.g. iris.")],
    path: Annotated[Path, typer.Argument(help="The file or folder to snapshot.")],
    message: Annotated[str, typer.Option("--message", "-m", help="What changed.")] = "",
    require_valid: Annotated[
        bool,
        typer.Option(
            "--require-valid",
            help="Refuse to add data that fails validation (against --schema, or else the "
            "schema inferred from the newest version).",
        ),
    ] = False,
    schema_file: SchemaOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Snapshot PATH as the next version of dataset NAME.

    Unchanged files are stored once; adding the same content again makes no new version.
    Every table (CSV, Parquet, JSON lines) is profiled; a malformed one is an error and no
    version is made.

    Examples:

        loopml data add iris data/iris.csv -m "first cut"
        loopml data add images ./images --quiet
        loopml data add iris new.csv --require-valid --schema iris.schema.yaml
    """
    from loopml import data  # lazily: pyarrow takes a while to import

    with Client(create=True) as client:
        if require_valid or schema_file is not None:
            if not require_valid:
                raise InvalidInputError("--schema needs --require-valid in 'loopml data add'.")
            reports = _validate(client, name, path, schema_file)
            if not all(report.ok for report in reports):
                _print_reports(reports, as_json=as_json)
                output.print_error(f"Not added: {path} failed validation.")
                raise typer.Exit(1)
        with _AddProgress(hidden=quiet or as_json) as progress:
            result = data.add(name, path, message=message, client=client, progress=progress)
    version = result.version
    if as_json:
        output.print_json({**_version_to_dict(version), "created": result.created})
        return
    ref = format_dataset_ref(version.dataset, version.version)
    out = output.console()
    if result.created:
        files = _files(version.file_count)
        out.print(f"Created {ref} ({files}, {format_size(version.size)})", markup=False)
    else:
        out.print(f"No change: {ref} already has this content", markup=False)


# status --------------------------------------------------------------------------------------
@app.command("status")
def status_command(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Datasets to check (default: every dataset with a known source)."),
    ] = None,
    path: Annotated[
        Path | None,
        typer.Option("--path", help="Compare this file or folder instead of the recorded source."),
    ] = None,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit with 1 when anything changed.")
    ] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Show what changed in the files each dataset was added from since its newest version.

    Only files whose size or times changed are read (a stat cache remembers the rest), so
    checking an unchanged folder is nearly free.

    Examples:

        loopml data status
        loopml data status iris --json
        loopml data status iris --path new/iris.csv --exit-code
    """
    from loopml.data import versions  # lazily: only what status needs

    with open_client() as client:
        if names:
            chosen = names
        else:
            chosen = [v.dataset for v in versions.list_datasets(client=client) if v.source]
            if path is not None:
                raise InvalidInputError("--path needs one dataset name: loopml data status NAME.")
        if path is not None and len(chosen) != 1:
            raise InvalidInputError("--path compares one dataset; name exactly one.")
        results = [versions.status(name, path=path, client=client) for name in chosen]
    if as_json:
        output.print_json([result.to_dict() for result in results])
    else:
        _print_status(results)
    if exit_code and not all(result.clean for result in results):
        raise typer.Exit(1)


def _print_status(results: list[DatasetStatus]) -> None:
    out = output.console()
    if not results:
        out.print("No dataset records where it was added from; nothing to check.", markup=False)
    for result in results:
        found = result.found
        ref = format_dataset_ref(result.version.dataset, result.version.version)
        where = output.escape(found.source)
        if result.clean:
            out.print(f"[green]{output.escape(ref)}: up to date[/green] with {where}")
            continue
        counts = f"{len(found.modified)} modified, {len(found.added)} new, "
        counts += f"{len(found.removed)} deleted"
        out.print(f"[yellow]{output.escape(ref)}: {counts}[/yellow] in {where}")
        for label, paths, style in (
            ("modified", found.modified, "yellow"),
            ("new", found.added, "green"),
            ("deleted", found.removed, "red"),
        ):
            for changed in paths[:_LISTED_CHANGES]:
                out.print(f"  [{style}]{label + ':':10}[/{style}] {output.escape(changed)}")
            if len(paths) > _LISTED_CHANGES:
                out.print(f"  … and {len(paths) - _LISTED_CHANGES} more {label} (see --json)")


# list / show / log ---------------------------------------------------------------------------
@app.command("list")
def list_command(as_json: output.JsonFlag = False) -> None:
    """List datasets with their newest version.

    Examples:

        loopml data list
        loopml data list --json | jq -r '.[].dataset'
    """
    from loopml import data  # lazily: pyarrow takes a while to import

    with open_client() as client:
        versions = data.list_datasets(client=client)
    if as_json:
        output.print_json([_version_to_dict(v) for v in versions])
        return
    out = output.console()
    if not versions:
        out.print("No datasets yet. Add one with 'loopml data add NAME PATH'.", markup=False)
        return
    out.print(_versions_table(versions, title="Datasets (newest version)"))


@app.command("show")
def show_command(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@latest or NAME@3.")],
    as_json: output.JsonFlag = False,
) -> None:
    """Show a version: its files, size, message and the profile of each table.

    Examples:

        loopml data show iris
        loopml data show iris@2 --json
    """
    from loopml import data  # lazily: pyarrow takes a while to import

    with open_client() as client:
        handle = data.get(ref, client=client)
        files = handle.files()
        profiles = handle.profiles()
    version = handle.version
    if as_json:
        document = _version_to_dict(version)
        document["files"] = [
            {"path": f.path, "digest": str(f.digest), "size": f.size} for f in files
        ]
        document["profiles"] = {path: p.to_dict() for path, p in profiles.items()}
        output.print_json(document)
        return
    out = output.console()
    out.print(f"[bold]{output.escape(handle.ref)}[/]  {output.format_time(version.created_at)}")
    if version.message:
        out.print(f"  message: {version.message}", markup=False)
    out.print(f"  {_files(version.file_count)}, {format_size(version.size)}", markup=False)
    if version.source:
        out.print(f"  added from: {version.source}", markup=False)
    from rich.table import Table

    listing = Table(show_header=True, header_style="bold", box=None)
    listing.add_column("file")
    listing.add_column("size", justify="right")
    for entry in files:
        listing.add_row(output.escape(entry.path), format_size(entry.size))
    out.print(listing)
    for path, profile in profiles.items():
        out.print(profile_table(path, profile))


@app.command("log")
def log_command(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    as_json: output.JsonFlag = False,
) -> None:
    """List every version of a dataset, oldest first.

    Examples:

        loopml data log iris
    """
    from loopml import data  # lazily: pyarrow takes a while to import

    with open_client() as client:
        versions = data.log(name, client=client)
    if as_json:
        output.print_json([_version_to_dict(v) for v in versions])
        return
    output.console().print(_versions_table(versions, title=f"Versions of {name}"))


# get / rm ------------------------------------------------------------------------------------
@app.command("get")
def get_command(
    ref: Annotated[str, typer.Argument(help="NAME@3, NAME@latest or NAME.")],
    to: Annotated[Path, typer.Option("--to", help="Folder to write the files into.")],
    as_json: output.JsonFlag = False,
) -> None:
    """Write a version's files into a folder.

    Examples:

        loopml data get iris@2 --to ./iris-v2
    """
    from loopml import data  # lazily: pyarrow takes a while to import

    with open_client() as client:
        handle = data.get(ref, client=client)
        version = handle.version
        entries = materialize_tree(client.artifacts, Digest.parse(version.tree_digest), to)
    if as_json:
        output.print_json({**_version_to_dict(version), "to": str(to), "files": len(entries)})
        return
    output.console().print(
        f"Wrote {handle.ref} ({_files(len(entries))}, {format_size(version.size)}) to {to}",
        markup=False,
    )


@app.command("rm")
def rm_command(
    ref: Annotated[str, typer.Argument(help="NAME@3 (one version) or NAME (all versions).")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete one version, or a whole dataset. Version numbers are never reused.

    Examples:

        loopml data rm iris@1 --yes
        loopml data rm iris
    """
    from loopml import data  # lazily: pyarrow takes a while to import

    name, number = parse_dataset_ref(ref)
    latest = "@latest" in ref.lower()
    with open_client() as client:
        if latest:  # "rm iris@latest" deletes the newest version, not the dataset
            number = client.metadata.get_dataset_version(name, None).version
        target = format_dataset_ref(name, number) if number is not None else name
        if number is None:
            data.log(name, client=client)  # NotFoundError for an unknown dataset
        else:
            client.metadata.get_dataset_version(name, number)
        if not yes:
            if not sys.stdin.isatty():
                raise InvalidInputError(
                    "Refusing to delete without confirmation: there is no terminal to ask "
                    "on. Pass --yes to delete non-interactively."
                )
            what = f"version {target}" if number is not None else f"every version of {name}"
            if not typer.confirm(f"Delete {what}?"):
                raise typer.Exit(1)
        data.remove(name, number, client=client)
    output.console().print(f"Deleted {target}", markup=False)


# validate / schema ---------------------------------------------------------------------------
@app.command("validate")
def validate_command(
    name: Annotated[str, typer.Argument(help="Dataset whose schema the data must follow.")],
    path: Annotated[Path, typer.Argument(help="The table file or folder to check.")],
    schema_file: SchemaOption = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Check new data against a schema: --schema FILE, or else the one inferred from the
    newest version of NAME. Exit 0 if it passes, 1 if a rule fails, 2 on bad input.

    Examples:

        loopml data validate iris new.csv
        loopml data validate iris new.csv --schema iris.schema.yaml --json
    """
    from loopml import data  # lazily: pyarrow takes a while to import

    if schema_file is not None:  # no project needed
        reports = data.validate_files(path, schema=_read_schema(schema_file))
    else:
        with open_client() as client:
            reports = _validate(client, name, path, None)
    _print_reports(reports, as_json=as_json)
    if not all(report.ok for report in reports):
        raise typer.Exit(1)


@app.command("schema")
def schema_command(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@latest or NAME@3.")],
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the YAML here (default: stdout).")
    ] = None,
    table: Annotated[
        str | None, typer.Option("--table", help="Which table, when the version has several.")
    ] = None,
) -> None:
    """Infer a schema (YAML) from a version's profile, to edit and use with --schema.

    Examples:

        loopml data schema iris --out iris.schema.yaml
    """
    from loopml import data  # lazily: pyarrow takes a while to import

    with open_client() as client:
        handle = data.get(ref, client=client)
        text = data.schema_to_yaml(handle.schema(table))
    if out_file is None:
        sys.stdout.write(text)
        return
    try:
        out_file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"Cannot write {out_file}: {exc.strerror}.") from exc
    output.console().print(f"Wrote the schema of {handle.ref} to {out_file}", markup=False)


# diff ----------------------------------------------------------------------------------------
@app.command("diff")
def diff_command(
    a: Annotated[str, typer.Argument(metavar="A", help="The reference version, e.g. iris@1.")],
    b: Annotated[
        str | None,
        typer.Argument(
            metavar="B", help="The version to compare with A (default: A's newest version)."
        ),
    ] = None,
    table: Annotated[
        str | None, typer.Option("--table", help="Only this table (a path in both versions).")
    ] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Compare two versions: files added, removed and changed; for each table in both, schema
    changes, row counts and column statistics side by side with a drift score.

    Drift is B against A: PSI (below 0.1 stable, 0.1 to 0.25 moderate, above 0.25 major) and
    Jensen–Shannon distance, computed from the stored profiles (the data is not read again).

    Examples:

        loopml data diff iris@1 iris@2
        loopml data diff iris@1                  # iris@1 against iris@latest
        loopml data diff iris@1 iris@3 --table train.csv --json
    """
    from dataclasses import replace

    from loopml import data  # lazily: pyarrow takes a while to import

    if b is None:
        b = f"{parse_dataset_ref(a)[0]}@latest"
    with open_client() as client:
        result = data.diff(a, b, client=client)
    if table is not None:
        result = replace(result, tables=(result.table(table),))
    if as_json:
        output.print_json(result.to_dict())
        return
    out = output.console()
    out.print(f"[bold]{output.escape(result.a)}[/] → [bold]{output.escape(result.b)}[/]")
    files = result.files
    out.print(
        f"Files: {len(files.added)} added, {len(files.removed)} removed, "
        f"{len(files.changed)} changed, {files.unchanged} unchanged",
        markup=False,
    )
    if files.added or files.removed or files.changed:
        out.print(_diff_files_table(result))
    if not result.tables:
        out.print("No table is in both versions.", markup=False)
    for changes in result.tables:
        rows = f"{changes.rows_a:,} → {changes.rows_b:,} rows"
        out.print(f"\n[bold]{output.escape(changes.path)}[/]: {rows}")
        for change in changes.schema_changes:
            out.print("  " + _DIFF_SCHEMA_MARKS[change.kind].format(c=change), markup=False)
        out.print(_diff_columns_table(changes))
        numbers = _diff_numbers_table(changes, _diff_labels(result.a, result.b))
        if numbers is not None:
            out.print(numbers)


_DIFF_FILE_ROWS = 50
_DIFF_VERDICT_STYLES = {"stable": "green", "moderate": "yellow", "major": "red"}
_DIFF_SCHEMA_MARKS = {
    "added": "+ column {c.column} added ({c.after})",
    "removed": "- column {c.column} removed (was {c.before})",
    "type_changed": "~ column {c.column}: type {c.before} → {c.after}",
    "nullability_changed": "~ column {c.column}: {c.before} → {c.after}",
}


def _diff_files_table(result: DatasetDiff) -> Table:
    from rich.table import Table

    files = result.files
    listing = Table(header_style="bold", box=None)
    for header in ("", "file", result.a, result.b):
        listing.add_column(output.escape(header), justify="right" if "@" in header else "left")
    marked = [("+", f) for f in files.added] + [("-", f) for f in files.removed]
    marked += [("~", f) for f in files.changed]
    for mark, f in sorted(marked, key=lambda m: m[1].path)[:_DIFF_FILE_ROWS]:
        before = "" if f.size_a is None else format_size(f.size_a)
        after = "" if f.size_b is None else format_size(f.size_b)
        listing.add_row(mark, output.escape(f.path), before, after)
    if len(marked) > _DIFF_FILE_ROWS:
        listing.add_row("", f"… {len(marked) - _DIFF_FILE_ROWS} more (see --json)", "", "")
    return listing


def _diff_labels(ref_a: str, ref_b: str) -> tuple[str, str]:
    """Short row labels: "@1"/"@2" for two versions of one dataset, else the whole refs."""
    name_a, _, number_a = ref_a.rpartition("@")
    name_b, _, number_b = ref_b.rpartition("@")
    return (f"@{number_a}", f"@{number_b}") if name_a == name_b else (ref_a, ref_b)


def _diff_columns_table(changes: TableDiff) -> Table:
    """One row per column: type, missing share, distinct count, top category (A → B where
    they differ) and the drift of B against A."""
    from rich.box import SIMPLE_HEAD
    from rich.table import Table

    table = Table(header_style="bold", box=SIMPLE_HEAD)
    for header in ("column", "type", "missing", "distinct", "top category", "PSI", "JS", "drift"):
        right = header in ("missing", "distinct", "PSI", "JS")
        table.add_column(header, justify="right" if right else "left")
    for column in changes.columns:
        a, b = column.a, column.b
        scores = ["", "", "[dim]not scored[/]" if a is not None and b is not None else ""]
        if column.drift is not None:
            style = _DIFF_VERDICT_STYLES[column.drift.verdict.value]
            psi, js = column.drift.psi, column.drift.js_distance
            scores = [f"{psi:.3f}", f"{js:.3f}", f"[{style}]{column.drift.verdict.value}[/]"]
        table.add_row(
            output.escape(column.name),
            *(_diff_pair(a, b, cell) for cell in _DIFF_CELLS),
            *scores,
        )
    return table


def _diff_numbers_table(changes: TableDiff, labels: tuple[str, str]) -> Table | None:
    """Two rows (A, then B) per number column: mean, std, min, quartiles, max."""
    from rich.box import SIMPLE_HEAD
    from rich.table import Table

    numeric = [c for c in changes.columns if _diff_is_number(c.a) or _diff_is_number(c.b)]
    if not numeric:
        return None
    table = Table(header_style="bold", box=SIMPLE_HEAD)
    for header in ("column", "", "mean", "std", "min", "p25", "median", "p75", "max"):
        table.add_column(header, justify="left" if header in ("column", "") else "right")
    for column in numeric:
        for side, stats in enumerate((column.a, column.b)):
            name = output.escape(column.name) if side == 0 else ""
            label = output.escape(labels[side])
            if not _diff_is_number(stats) or stats is None:
                table.add_row(name, label, "[dim]—[/]", *[""] * 6, end_section=side == 1)
                continue
            quartiles = [stats.quantiles.get(q) for q in ("0.25", "0.5", "0.75")]
            cells = [stats.mean, stats.std, stats.min, *quartiles, stats.max]
            table.add_row(name, label, *(_cell(v) for v in cells), end_section=side == 1)
    return table


def _diff_is_number(stats: ColumnStats | None) -> bool:
    return stats is not None and stats.logical_type in _NUMERIC


def _diff_pair(
    a: ColumnStats | None, b: ColumnStats | None, cell: Callable[[ColumnStats], str]
) -> str:
    before = "—" if a is None else cell(a)
    after = "—" if b is None else cell(b)
    if {before, after} <= {"", "—"}:  # nothing to show on either side
        return ""
    return before if before == after else f"{before} → {after}"


def _diff_top(stats: ColumnStats) -> str:
    if not stats.top_categories:
        return ""
    value, count = stats.top_categories[0]
    present = stats.count * (1 - stats.missing_fraction)
    share = f" {count / present:.0%}" if present else ""
    return output.escape(value if len(value) <= 16 else value[:15] + "…") + share


_DIFF_CELLS: tuple[Callable[[ColumnStats], str], ...] = (
    lambda s: s.logical_type,
    lambda s: f"{s.missing_fraction:.1%}" if s.missing_fraction else "0%",
    lambda s: f"{s.distinct:,}" if s.distinct_is_exact else f"~{s.distinct:,}",
    _diff_top,
)


# helpers -------------------------------------------------------------------------------------
def _validate(
    client: Client, name: str, path: Path, schema_file: Path | None
) -> list[ValidationReport]:
    from loopml import data  # lazily: pyarrow takes a while to import

    schema: Schema | None = None
    reference = None
    if schema_file is not None:
        schema = _read_schema(schema_file)
    else:
        try:
            reference = data.get(name, client=client)
        except NotFoundError as exc:
            raise NotFoundError(
                f"{exc.message} Without --schema the schema is inferred from the newest "
                f"version of {name!r}."
            ) from exc
    return data.validate_files(path, schema=schema, reference=reference)


def _read_schema(file: Path) -> Schema:
    from loopml import data  # lazily: pyarrow takes a while to import

    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NotFoundError(f"Schema file {file} does not exist.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"Cannot read schema file {file}: {exc}.") from exc
    return data.schema_from_yaml(text, source=str(file))


def _print_reports(reports: list[ValidationReport], *, as_json: bool) -> None:
    if as_json:
        document = [r.to_dict() for r in reports]
        output.print_json(document[0] if len(document) == 1 else document)
        return
    out = output.console()
    for report in reports:
        style = "green" if report.ok else "red"
        out.print(report.render_text(), style=style, markup=False, soft_wrap=True)


class _AddProgress:
    """A Rich progress bar fed by ``data.add`` (shown from 50 files on, on stderr)."""

    MIN_FILES = 50

    def __init__(self, *, hidden: bool) -> None:
        from rich.progress import Progress

        self.bar = Progress(console=output.console(stderr=True, quiet=hidden), transient=True)
        self.task: TaskID | None = None

    def __enter__(self) -> Callable[[int, int], None]:
        return self.update

    def update(self, done: int, total: int) -> None:
        if total < self.MIN_FILES:
            return
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task("Storing files", total=total)
        if done == total or done % max(1, total // 100) == 0:  # a redraw per 1 %, not per file
            self.bar.update(self.task, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.bar.stop()


def _files(count: int) -> str:
    return f"{count} file{'' if count == 1 else 's'}"


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def _version_to_dict(version: DatasetVersion) -> dict[str, object]:
    return {
        "dataset": version.dataset,
        "version": version.version,
        "ref": format_dataset_ref(version.dataset, version.version),
        "created_at": version.created_at,
        "message": version.message,
        "size": version.size,
        "file_count": version.file_count,
        "tree_digest": version.tree_digest,
        "profiles_digest": version.profiles_digest,
        "run_id": version.run_id,
        "source": version.source,
    }


def _versions_table(versions: list[DatasetVersion], *, title: str) -> Table:
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    for header in ("version", "created", "files", "size", "message"):
        table.add_column(header, justify="right" if header in ("files", "size") else "left")
    for v in versions:
        table.add_row(
            output.escape(format_dataset_ref(v.dataset, v.version)),
            output.format_time(v.created_at),
            str(v.file_count),
            format_size(v.size),
            output.escape(v.message),
        )
    return table


def profile_table(path: str, profile: TableProfile, *, limit: int | None = None) -> Table:
    """A table with one row per column of ``profile`` (the first ``limit`` columns if set)."""
    from rich.box import SIMPLE_HEAD
    from rich.table import Table

    title = f"{output.escape(path)}: {profile.rows:,} rows × {len(profile.columns)} columns"
    table = Table(title=title, title_justify="left", header_style="bold", box=SIMPLE_HEAD)
    for header in ("column", "type", "missing", "distinct", "min", "max", "mean"):
        left = header in ("column", "type")
        table.add_column(header, justify="left" if left else "right", no_wrap=header == "type")
    for c in profile.columns[:limit]:
        distinct = f"{c.distinct:,}" if c.distinct_is_exact else f"~{c.distinct:,}"
        table.add_row(
            output.escape(c.name),
            str(c.logical_type),
            f"{c.missing:,}",
            distinct,
            _cell(c.min),
            _cell(c.max),
            _cell(c.mean) if c.logical_type in _NUMERIC else "",
        )
    if limit is not None and len(profile.columns) > limit:
        table.caption = f"… {len(profile.columns) - limit} more columns"
        table.caption_justify = "left"
    return table


def _cell(value: float | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return output.format_number(value)
    return output.escape(value if len(value) <= 24 else value[:23] + "…")
