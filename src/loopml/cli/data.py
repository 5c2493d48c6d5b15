"""``loopml data``: version datasets, inspect their profiles, validate new data."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from loopml.cli import data_views, output
from loopml.cli.resolve import client_creating_project, open_client
from loopml.core.entities import DatasetVersion
from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.core.hashing import Digest
from loopml.core.refs import format_dataset_ref, parse_dataset_ref
from loopml.stores.artifacts.trees import materialize_tree
from loopml.tracking.client import Client

if TYPE_CHECKING:
    from loopml.data.schema import Schema
    from loopml.data.validation import ValidationReport

app = typer.Typer(
    help=(
        "Version datasets (files or folders), see their profiles, validate new data.\n\n"
        "A version is written NAME@3; NAME@latest or just NAME means the newest."
    ),
    no_args_is_help=True,
)


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

    with client_creating_project() as client:
        if require_valid or schema_file is not None:
            if not require_valid:
                raise InvalidInputError("--schema needs --require-valid in 'loopml data add'.")
            reports = _validate(client, name, path, schema_file)
            if not all(report.ok for report in reports):
                _print_reports(reports, as_json=as_json)
                output.print_error(f"Not added: {path} failed validation.")
                raise typer.Exit(1)
        with output.CountProgress("Storing files", minimum=50, hidden=quiet or as_json) as progress:
            result = data.add(name, path, message=message, client=client, progress=progress)
    version = result.version
    if as_json:
        output.print_json({**_version_to_dict(version), "created": result.created})
        return
    ref = format_dataset_ref(version.dataset, version.version)
    out = output.console()
    if result.created:
        files = data_views.files_text(version.file_count)
        out.print(f"Created {ref} ({files}, {data_views.format_size(version.size)})", markup=False)
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
        data_views.print_status(results)
    if exit_code and not all(result.clean for result in results):
        raise typer.Exit(1)


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
    out.print(data_views.versions_table(versions, title="Datasets (newest version)"))


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
    out.print(
        f"  {data_views.files_text(version.file_count)}, {data_views.format_size(version.size)}",
        markup=False,
    )
    if version.source:
        out.print(f"  added from: {version.source}", markup=False)
    from rich.table import Table

    listing = Table(show_header=True, header_style="bold", box=None)
    listing.add_column("file")
    listing.add_column("size", justify="right")
    for entry in files:
        listing.add_row(output.escape(entry.path), data_views.format_size(entry.size))
    out.print(listing)
    for path, profile in profiles.items():
        out.print(data_views.profile_table(path, profile))


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
    output.console().print(data_views.versions_table(versions, title=f"Versions of {name}"))


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
        f"Wrote {handle.ref} ({data_views.files_text(len(entries))}, "
        f"{data_views.format_size(version.size)}) to {to}",
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

    The inferred rules are tolerant, so that the next batch of the same data passes: types,
    nullability, allowed sets of low-cardinality columns, number ranges widened by half their
    span (left out below 20 values); never unique. A comment above each column says what was
    seen.

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
    output.console().print(
        f"Wrote the schema inferred from {handle.ref} to {out_file}: types, nullability, "
        "allowed sets of low-cardinality columns, ranges widened by half their span (a comment "
        "above each column says what was seen). Tighten what you know.",
        markup=False,
    )


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
    data_views.print_diff(result)


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
