"""``loopml runs``: list, show, compare and delete runs."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from loopml.cli import output
from loopml.cli.compare import compare_runs
from loopml.cli.resolve import ExperimentNames, open_client, resolve_run
from loopml.core.entities import Metric, Page, Run
from loopml.core.errors import InvalidInputError
from loopml.core.ids import now_ms
from loopml.tracking.client import DROPPED_POINTS_TAG, Client
from loopml.tracking.heartbeat import format_age, lapse_seconds, lost_for_ms

if TYPE_CHECKING:
    from rich.table import Table

app = typer.Typer(
    help="List, inspect, compare, delete and garbage-collect tracked runs.",
    no_args_is_help=True,
)


# list ----------------------------------------------------------------------------------------
@app.command("list")
def list_runs(
    experiment: Annotated[
        list[str] | None,
        typer.Option(
            "--experiment", "-e", help="Only runs of this experiment (name or id); repeatable."
        ),
    ] = None,
    filter_text: Annotated[
        str | None,
        typer.Option(
            "--filter",
            "-f",
            help="Search expression, e.g. \"metrics.auc > 0.9 and params.model = 'rf'\".",
        ),
    ] = None,
    order_by: Annotated[
        list[str] | None,
        typer.Option(
            "--order-by",
            "-o",
            help="Sort key such as 'metrics.auc DESC' or 'start_time'; repeatable.",
        ),
    ] = None,
    max_results: Annotated[
        int, typer.Option("--max-results", "-n", min=1, help="Runs per page.")
    ] = 100,
    page_token: Annotated[
        str | None,
        typer.Option("--page-token", help="Continue a listing (the token a listing printed)."),
    ] = None,
    show_all: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Also list the serving runs (prediction logs and feedback of 'loopml serve', "
            "experiment 'serving'), hidden unless --all or --experiment serving.",
        ),
    ] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """List runs, newest first unless --order-by says otherwise. Serving runs (the
    prediction logs of 'loopml serve') are hidden: see them with --all, or their servers
    with 'loopml deployments list'.

    The filter language: metrics.KEY, params.KEY, tags.KEY or an attribute (status, name,
    start_time, end_time, duration in ms, run_id, parent_run_id), an operator (= != < <= >
    >= like ilike) and a number or a quoted string, joined with 'and'.

    Examples:

        loopml runs list --experiment quickstart --order-by 'metrics.auc DESC'
        loopml runs list -f "metrics.auc > 0.99 and status = 'FINISHED'" -n 10
        loopml runs list --json | jq -r '.[].id'
    """
    with open_client() as client:
        experiments = experiment or (None if show_all else _experiments_but_serving(client))
        if experiments == []:  # only serving runs so far
            page: Page[Run] = Page([])
        else:
            page = client.search_runs(
                experiment=experiments,
                filter=filter_text,
                order_by=order_by or None,
                max_results=max_results,
                page_token=page_token,
            )
        names = ExperimentNames(client)
        experiment_names = {run.experiment_id: names(run.experiment_id) for run in page}
    runs = list(page)
    if as_json:
        output.print_json([_run_dict(r, experiment_names[r.experiment_id]) for r in runs])
        if page.next_page_token:
            sys.stderr.write(f"More runs: add --page-token {page.next_page_token}\n")
        return
    out = output.console()
    if not runs:
        out.print("No runs match." if filter_text or experiment else "No runs yet.")
        return
    out.print(_runs_table(runs, experiment_names, order_by or [], out.width))
    if page.next_page_token:
        hint = f"More runs: add --page-token {page.next_page_token}"
        out.print(hint, markup=False, soft_wrap=True)


def _experiments_but_serving(client: Client) -> list[str]:
    """The ids of every experiment but 'serving' (where 'loopml serve' logs predictions)."""
    from loopml.monitoring.log_store import EXPERIMENT

    ids: list[str] = []
    token = None
    while True:
        page = client.list_experiments(max_results=1000, page_token=token)
        ids += [each.id for each in page if each.name != EXPERIMENT]
        token = page.next_page_token
        if token is None:
            return ids


@dataclass(frozen=True)
class _Column:
    header: str
    texts: list[str]  # plain text, one per run (escaped when rendered)
    style: str = ""
    justify: Literal["left", "right"] = "left"

    @property
    def width(self) -> int:
        # a space of padding on each side plus the (blank) column divider
        return max([len(self.header), *(len(t) for t in self.texts)]) + 3


def _runs_table(
    runs: list[Run], experiment_names: dict[str, str], order_by: Sequence[str], width: int
) -> Table:
    """The runs, one per row, with the columns that fit in ``width``: id, name, status, then
    by priority the sort keys, metrics, duration, start and params; the caption names the
    ones left out."""
    from rich.box import SIMPLE_HEAD
    from rich.table import Table

    required = [
        _Column("id", [output.short_id(r.id) for r in runs], style="dim"),
        _Column("name", [r.name for r in runs], style="bold"),
    ]
    if len({r.experiment_id for r in runs}) > 1:
        required.append(_Column("experiment", [experiment_names[r.experiment_id] for r in runs]))
    required.append(_Column("status", [_status_text(r) for r in runs]))
    start = _Column("start", [output.format_time(r.start_time) for r in runs])
    duration = _Column("duration", [output.run_duration_text(r) for r in runs], justify="right")
    metrics, params = _key_columns(runs)
    sort_keys = [item.split()[0] for item in order_by if item.strip()]
    by_name = {f"metrics.{c.header}": c for c in metrics} | {
        f"params.{c.header}": c for c in params
    }
    first = [by_name[k] for k in sort_keys if k in by_name]
    optional = [*first, *(c for c in metrics if c not in first), duration, start]
    optional += [c for c in params if c not in first]

    used = 1 + sum(c.width for c in required)
    chosen: list[_Column] = []
    for column in optional:
        if used + column.width <= width:
            chosen.append(column)
            used += column.width
    hidden = [c.header for c in optional if c not in chosen]
    canonical = [start, duration, *metrics, *params]
    columns = required + [c for c in canonical if c in chosen]

    title = f"{len(runs)} run{'s' if len(runs) != 1 else ''}"
    table = Table(title=title, title_justify="left", caption_justify="left", box=SIMPLE_HEAD)
    for column in columns:
        table.add_column(
            output.escape(column.header), style=column.style, justify=column.justify, no_wrap=True
        )
    for i, run in enumerate(runs):
        cells = [output.escape(c.texts[i]) for c in columns]
        cells[columns.index(required[-1])] = _status_markup(run)
        table.add_row(*cells)
    if hidden:
        names = ", ".join(hidden[:6]) + (", …" if len(hidden) > 6 else "")
        table.caption = output.escape(
            f"Not shown: {names}. Widen the terminal, or use 'loopml runs show ID' or --json."
        )
    return table


def _key_columns(runs: list[Run]) -> tuple[list[_Column], list[_Column]]:
    """A column for each metric and each param of ``runs``, sorted by key."""
    metrics = [
        _Column(
            key,
            [output.format_number(r.metrics[key]) if key in r.metrics else "" for r in runs],
            style="magenta",
            justify="right",
        )
        for key in sorted({k for r in runs for k in r.metrics})
    ]
    params = [
        _Column(key, [r.params.get(key, "") for r in runs], style="cyan")
        for key in sorted({k for r in runs for k in r.params})
    ]
    return metrics, params


# show ----------------------------------------------------------------------------------------
@app.command("show")
def show_run(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix of it).")],
    as_json: output.JsonFlag = False,
) -> None:
    """Show one run: params, metrics (with history), tags, system info and artifacts.

    Tags recorded by loopml itself (git commit, Python and package versions, host, command)
    start with 'loopml.'.

    Examples:

        loopml runs show 3f2a9c1e
        loopml runs show 3f2a9c1e --json | jq .metrics
    """
    with open_client() as client:
        run = resolve_run(client, run_id)
        experiment_name = client.get_experiment(run.experiment_id).name
        histories = {key: client.get_metric_history(run.id, key) for key in sorted(run.metrics)}
        artifacts = _all_artifacts(client, run.id)
    if as_json:
        data = _run_dict(run, experiment_name)
        data["metric_history"] = {k: output.metric_summary(h) for k, h in histories.items()}
        data["artifacts"] = artifacts
        output.print_json(data)
        return
    _print_run(run, experiment_name, histories, artifacts)


def _all_artifacts(client: Client, run_id: str) -> list[dict[str, object]]:
    files: list[dict[str, object]] = []
    folders = [""]
    while folders:
        for entry in client.list_artifacts(run_id, folders.pop()):
            if entry.is_dir:
                folders.append(entry.path)
            else:
                files.append({"path": entry.path, "size": entry.size, "digest": entry.digest})
    return sorted(files, key=lambda f: str(f["path"]))


def _key_value_table(
    title: str, rows: dict[str, str], style: str = "cyan", *, sort: bool = True
) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_header=False, box=None)
    table.add_column("key", style=style, no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in sorted(rows.items()) if sort else rows.items():
        table.add_row(output.escape(key), output.escape(value))
    return table


def _print_run(
    run: Run,
    experiment_name: str,
    histories: dict[str, list[Metric]],
    artifacts: list[dict[str, object]],
) -> None:
    from rich.table import Table

    out = output.console()
    out.print(f"[bold]Run {output.escape(run.name)}[/]  {_status_markup(run)}  [dim]{run.id}[/]")
    header = {
        "experiment": experiment_name,
        "start": output.format_time(run.start_time),
        "end": output.format_time(run.end_time),
        "duration": output.run_duration_text(run),
    }
    if run.parent_run_id:
        header["parent"] = run.parent_run_id
    if run.heartbeat_at is not None and not run.status.is_terminal:
        age = format_age(now_ms() - run.heartbeat_at)
        header["heartbeat"] = f"{output.format_time(run.heartbeat_at)} ({age} ago)"
    if DROPPED_POINTS_TAG in run.tags:
        header["dropped"] = (
            f"{run.tags[DROPPED_POINTS_TAG]} metrics/tags could not be stored (incomplete run)"
        )
    out.print(_key_value_table("", header, style="bold", sort=False))
    out.print()
    out.print(_key_value_table("Params", run.params) if run.params else "[dim]No params.[/]")
    out.print()
    if run.metrics:
        table = Table(title="Metrics", title_justify="left", box=None)
        table.add_column("key", style="magenta", no_wrap=True)
        table.add_column("last", justify="right")
        table.add_column("min", justify="right")
        table.add_column("max", justify="right")
        table.add_column("steps", justify="right")
        table.add_column("history")
        for key, history in histories.items():
            summary = output.metric_summary(history)
            low, high = summary["min"], summary["max"]
            table.add_row(
                output.escape(key),
                output.format_number(run.metrics[key]),
                output.format_number(low) if isinstance(low, float) else "",
                output.format_number(high) if isinstance(high, float) else "",
                str(len(history)),
                output.sparkline([m.value for m in history]),
            )
        out.print(table)
    else:
        out.print("[dim]No metrics.[/]")
    out.print()
    user_tags, system_tags = output.split_tags(run.tags)
    if user_tags:
        out.print(_key_value_table("Tags", user_tags))
        out.print()
    if system_tags:
        out.print(_key_value_table("System info", system_tags, style="dim"))
        out.print()
    if artifacts:
        table = Table(title="Artifacts", title_justify="left", box=None)
        table.add_column("path", style="green")
        table.add_column("size", justify="right")
        for item in artifacts:
            table.add_row(output.escape(item["path"]), _format_size(item["size"]))
        out.print(table)
    else:
        out.print("[dim]No artifacts.[/]")


def _format_size(size: object) -> str:
    if not isinstance(size, int):
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover


app.command("compare")(compare_runs)  # defined in its own module, listed here in help order


def _status_text(run: Run) -> str:
    """``RUNNING (lost, last heartbeat 5m ago)`` for a run whose process stopped beating."""
    lost = lost_for_ms(run, now_ms(), lapse_seconds())
    if lost is None:
        return str(run.status)
    return f"{run.status} (lost, last heartbeat {format_age(lost)} ago)"


def _status_markup(run: Run) -> str:
    text = _status_text(run)
    if text == str(run.status):
        return output.status_markup(run.status)
    return f"[red]{output.escape(text)}[/]"


def _run_dict(run: Run, experiment_name: str) -> dict[str, object]:
    data = output.run_to_dict(run, experiment_name)
    data["heartbeat_at"] = run.heartbeat_at
    data["lost"] = lost_for_ms(run, now_ms(), lapse_seconds()) is not None
    return data


# gc ------------------------------------------------------------------------------------------
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> float:
    """``90`` or ``90s``, ``10m``, ``2h``, ``1d`` → seconds."""
    value = text.strip().lower()
    unit = _AGE_UNITS.get(value[-1:], 0)
    number = value[:-1] if unit else value
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < 10**9:
        raise InvalidInputError(
            f"--older-than must be a duration such as 30s, 10m, 2h or 1d, got {text!r}."
        )
    return seconds


@app.command("gc")
def gc_runs(
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            help="Close RUNNING runs whose last heartbeat is older than this (30s, 10m, 2h). "
            "Default: LOOPML_RUN_LAPSE_SECONDS, else 10m.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list the runs that would be closed.")
    ] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Close runs whose process died: RUNNING runs whose heartbeat lapsed become KILLED,
    ended at their last heartbeat. A live run heartbeats every 30 s; `loopml server` does
    this by itself every minute. Model servers whose heartbeat lapsed are marked gone too,
    and their serving runs closed the same way (see 'loopml deployments list'). Then send the
    metrics and tags that dead processes left unsent in their spool (.loopml/cache/spool).

    Examples:

        loopml runs gc --dry-run
        loopml runs gc --older-than 1h --json
    """
    from loopml.cli.spool import spool_document, spool_lines
    from loopml.monitoring.deployments import close_gone_deployments
    from loopml.tracking.spool_recovery import recover_spools

    lapse = parse_age(older_than) if older_than is not None else lapse_seconds()
    with open_client() as client:
        gone = [] if dry_run else close_gone_deployments(client.loop, client.metadata)
        runs = client.metadata.close_lapsed_runs(int(lapse * 1000), dry_run=dry_run)
        names = ExperimentNames(client)
        experiment_names = {run.experiment_id: names(run.experiment_id) for run in runs}
        # after closing: a resent batch must not count as a sign of life of its dead run
        spooled = recover_spools(client.batcher.spool_root, client.metadata, dry_run=dry_run)
    if as_json:
        output.print_json(
            {
                "dry_run": dry_run,
                "older_than_seconds": lapse,
                "runs": [_run_dict(r, experiment_names[r.experiment_id]) for r in runs],
                "spool": spool_document(spooled),
                "gone_deployments": [d.id for d in gone],
            }
        )
        return
    out = output.console()
    for line in spool_lines(spooled, dry_run=dry_run):
        out.print(line, markup=False)
    for deployment in gone:
        out.print(
            f"Deployment {deployment.id} ({deployment.model} at {deployment.address}) is gone: "
            f"no heartbeat since {output.format_time(deployment.heartbeat_at)}.",
            markup=False,
            soft_wrap=True,
        )
    if not runs:
        out.print("No run has a lapsed heartbeat.")
        return
    verb = "Would close" if dry_run else "Closed"
    out.print(f"{verb} {len(runs)} run{'s' if len(runs) != 1 else ''} (heartbeat lapsed):")
    for run in runs:
        beat = output.format_time(run.heartbeat_at)
        out.print(f"  {output.escape(run.name)} [dim]{run.id}[/]  last heartbeat {beat}")


# delete --------------------------------------------------------------------------------------
@app.command("delete")
def delete_runs(
    run_ids: Annotated[list[str], typer.Argument(help="Run ids (or unique prefixes).")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Delete runs and everything logged to them (params, metrics, tags, child runs).

    Asks for confirmation unless --yes is given; without a terminal to ask on, --yes is
    required. Every id is checked before anything is deleted.

    Examples:

        loopml runs delete 3f2a9c1e
        loopml runs delete 3f2a9c1e 77b0d2aa --yes
    """
    with open_client() as client:
        runs = list({r.id: r for r in (resolve_run(client, i) for i in run_ids)}.values())
        if not yes:
            _confirm_delete(runs)
        for run in runs:
            client.delete_run(run.id)
    if as_json:
        output.print_json({"deleted": [r.id for r in runs]})
        return
    out = output.console()
    for run in runs:
        out.print(f"Deleted run {output.escape(run.name)} [dim]{run.id}[/]")


def _confirm_delete(runs: list[Run]) -> None:
    if not sys.stdin.isatty():
        raise InvalidInputError(
            "Refusing to delete without confirmation: there is no terminal to ask on. "
            "Pass --yes to delete non-interactively."
        )
    listing = ", ".join(f"{r.name} ({output.short_id(r.id)})" for r in runs)
    noun, them = ("run", "it") if len(runs) == 1 else (f"{len(runs)} runs", "them")
    if not typer.confirm(f"Delete {noun} {listing} and everything logged to {them}?"):
        output.console(stderr=True).print("Nothing deleted.")
        raise typer.Exit(0)
