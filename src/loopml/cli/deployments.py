"""``loopml deployments``: the model servers that are, or were, serving."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from loopml.cli import output
from loopml.cli.resolve import open_client
from loopml.core.ids import now_ms
from loopml.core.loop_records import Deployment, DeploymentState
from loopml.tracking.heartbeat import format_age

app = typer.Typer(
    help="The model servers ('loopml serve') that are, or were, serving: what, where, since "
    "when, and whether they are still alive.",
    no_args_is_help=True,
)


@app.command("list")
def list_command(
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Only servers of this model.")
    ] = None,
    state: Annotated[
        DeploymentState | None,
        typer.Option(help="Only live, ended or gone servers [default: live and gone]."),
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also list the servers that ended.")
    ] = False,
    max_results: Annotated[
        int, typer.Option("--max-results", "-n", min=1, help="Servers per page.")
    ] = 100,
    page_token: Annotated[
        str | None,
        typer.Option("--page-token", help="Continue a listing (the token a listing printed)."),
    ] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """List model servers, newest first. A server beats every LOOPML_HEARTBEAT_SECONDS
    (30 s); one silent for three beats (killed, or cut off from the store) is gone.

    Examples:

        loopml deployments list
        loopml deployments list --model cancer --all
        loopml deployments list --state gone --json
    """
    with open_client() as client:
        page = client.loop.list_deployments(
            model=model, state=state, max_results=max_results, page_token=page_token
        )
    shown = [d for d in page if show_all or state is not None or d.state != DeploymentState.ENDED]
    if as_json:
        output.print_json([d.to_dict() for d in shown])
        if page.next_page_token:
            sys.stderr.write(f"More deployments: add --page-token {page.next_page_token}\n")
        return
    out = output.console()
    if not shown:
        out.print("No model server matches." if model or state else "No model server is live.")
    else:
        out.print(_table(shown))
    if page.next_page_token:
        out.print(f"More: add --page-token {page.next_page_token}", markup=False, soft_wrap=True)


@app.command("show")
def show_command(
    deployment_id: Annotated[str, typer.Argument(help="Deployment id (or a unique prefix).")],
    as_json: output.JsonFlag = False,
) -> None:
    """Show one model server: what it serves, where, its prediction-log run and heartbeat.

    Examples:

        loopml deployments show 3f2a9c1e
        loopml deployments show 3f2a9c1e --json | jq .state
    """
    from loopml.monitoring.deployments import find_deployment

    with open_client() as client:
        deployment = find_deployment(client.loop, deployment_id)
    if as_json:
        output.print_json(deployment.to_dict())
        return
    rows = {
        "id": deployment.id,
        "state": _state(deployment),
        "model": _served(deployment),
        "address": deployment.address,
        "started": output.format_time(deployment.started_at),
        "heartbeat": f"{output.format_time(deployment.heartbeat_at)} "
        f"({format_age(now_ms() - deployment.heartbeat_at)} ago; every "
        f"{deployment.heartbeat_ms / 1000:g} s)",
        "prediction log": deployment.run_id or "(none: --no-log)",
    }
    if deployment.ended_at is not None:
        rows["ended"] = f"{output.format_time(deployment.ended_at)} ({deployment.end_reason})"
    out = output.console()
    width = max(len(key) for key in rows)
    for key, value in rows.items():
        out.print(f"{key:<{width}}  {value}", markup=False, soft_wrap=True)


def _served(deployment: Deployment) -> str:
    version = f" (version {deployment.version})" if deployment.version is not None else ""
    alias = f"@{deployment.alias}" if deployment.alias else ""
    return f"{deployment.model}{alias}{version}"


def _state(deployment: Deployment) -> str:
    if deployment.state is DeploymentState.GONE:
        silent = format_age(now_ms() - deployment.heartbeat_at)
        return f"gone (no heartbeat for {silent})"
    return str(deployment.state)


def _table(deployments: list[Deployment]) -> object:
    from rich.table import Table

    table = Table(header_style="bold")
    for header in ("id", "model", "version", "state", "address", "started", "heartbeat"):
        table.add_column(header)
    now = now_ms()
    for d in deployments:
        table.add_row(
            output.short_id(d.id),
            output.escape(d.model + (f"@{d.alias}" if d.alias else "")),
            "" if d.version is None else str(d.version),
            _state(d),
            output.escape(d.address),
            output.format_time(d.started_at),
            f"{format_age(now - d.heartbeat_at)} ago",
        )
    return table
