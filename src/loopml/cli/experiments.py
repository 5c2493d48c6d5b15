"""``loopml experiments``: list and create experiments."""

from __future__ import annotations

from typing import Annotated

import typer

from loopml.cli import output
from loopml.cli.resolve import open_client
from loopml.core.entities import Experiment

app = typer.Typer(
    help="List and create experiments (named groups of runs).",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON to stdout (for scripts).")]


@app.command("list")
def list_experiments(as_json: JsonFlag = False) -> None:
    """List every experiment, oldest first.

    Examples:

        loopml experiments list
        loopml experiments list --json | jq -r '.[].name'
    """
    found: list[Experiment] = []
    with open_client() as client:
        token: str | None = None
        while True:
            page = client.list_experiments(page_token=token)
            found.extend(page)
            token = page.next_page_token
            if not token:
                break
    if as_json:
        output.print_json([output.experiment_to_dict(e) for e in found])
        return
    from rich.table import Table

    out = output.console()
    if not found:
        out.print("No experiments yet. Create one with 'loopml experiments create NAME'.")
        return
    table = Table(title="Experiments", title_justify="left")
    table.add_column("id", style="dim", no_wrap=True)
    table.add_column("name", style="bold")
    table.add_column("created", no_wrap=True)
    table.add_column("tags")
    for exp in found:
        tags = ", ".join(f"{k}={v}" for k, v in sorted(exp.tags.items()))
        table.add_row(
            output.escape(exp.id),
            output.escape(exp.name),
            output.format_time(exp.created_at),
            output.escape(tags),
        )
    out.print(table)


@app.command("create")
def create_experiment(
    name: Annotated[str, typer.Argument(help="Name of the new experiment.")],
    as_json: JsonFlag = False,
) -> None:
    """Create an experiment named NAME (an error if the name is taken).

    Runs logged with loopml.start_run(experiment=NAME) create it on the fly too; creating it
    up front is useful in CI to fail early on a typo.

    Examples:

        loopml experiments create churn-model
        loopml experiments create churn-model --json
    """
    with open_client() as client:
        experiment = client.create_experiment(name)
    if as_json:
        output.print_json(output.experiment_to_dict(experiment))
        return
    output.console().print(
        f"Created experiment [bold]{output.escape(experiment.name)}[/] "
        f"(id {output.escape(experiment.id)})"
    )
