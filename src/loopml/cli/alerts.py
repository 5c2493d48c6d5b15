"""``loopml alerts``: the alert rules of loopml.yaml, and firing one to test its actions."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from loopml.cli import output

app = typer.Typer(
    help="Alert rules ('alerts:' in loopml.yaml): which signal of a model's monitoring "
    "windows they watch, when they fire, and what they do (webhook, log, run a pipeline). "
    "See docs/monitoring.md#alerts.",
    no_args_is_help=True,
)

PathOption = Annotated[
    Path | None,
    typer.Option("--path", help="The folder with loopml.yaml (default: here)."),
]


@app.command("list")
def list_command(path: PathOption = None, as_json: output.JsonFlag = False) -> None:
    """Check the rules in loopml.yaml and list them. A malformed rule exits 2 and names the
    file, line, column and field.

    Examples:

        loopml alerts list
        loopml alerts list --json
    """
    from loopml.loop.alert_rules import read_alert_rules

    rules = read_alert_rules(path or Path("."))
    if as_json:
        output.print_json([rule.to_dict() for rule in rules])
        return
    out = output.console()
    if not rules:
        out.print(f"No alert rules in {(path or Path('.')) / 'loopml.yaml'}.", markup=False)
        return
    from rich.table import Table

    table = Table(box=None)
    for column in ("rule", "model", "when", "window", "cooldown", "severity", "actions"):
        table.add_column(column, overflow="fold")
    for rule in rules:
        document = rule.to_dict()
        table.add_row(
            output.escape(rule.name),
            output.escape(rule.model),
            output.escape(f"{rule.signal} {rule.condition}"),
            document["window"],
            document["cooldown"],
            rule.severity,
            output.escape("; ".join(action.describe() for action in rule.actions)),
        )
    out.print(table)


@app.command("test")
def test_command(
    rule_name: Annotated[str, typer.Argument(metavar="RULE", help="The rule's name.")],
    value: Annotated[
        float | None,
        typer.Option("--value", help="The signal's value to report [default: the threshold]."),
    ] = None,
    action: Annotated[
        list[str] | None,
        typer.Option(
            "--action", "-a", help="Only actions of this kind: webhook, log, pipeline (repeatable)."
        ),
    ] = None,
    path: PathOption = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Fire a rule once, now, with a made-up value, marked as a test ("test": true in the
    webhook's JSON; a pipeline run gets the tag loopml.alert_test). Exits 1 when an action
    failed, 2 when the rule or its configuration is wrong (a secret's environment variable
    that is not set, for instance).

    Examples:

        loopml alerts test drift-high
        loopml alerts test drift-high --value 0.45 --action webhook
    """
    from loopml.core.errors import InvalidInputError
    from loopml.core.ids import now_ms
    from loopml.loop.alert_actions import fire, webhook_secret
    from loopml.loop.alert_rules import ACTION_KINDS, WebhookAction, find_rule, read_alert_rules
    from loopml.loop.alerts import synthetic_firing

    kinds = set(action or ACTION_KINDS)
    unknown = sorted(kinds - set(ACTION_KINDS))
    if unknown:
        raise InvalidInputError(
            f"--action {unknown[0]!r} is not an action; allowed: {', '.join(ACTION_KINDS)}."
        )
    project = path or Path(".")
    rule = find_rule(read_alert_rules(project), rule_name)
    chosen = [a for a in rule.actions if a.kind in kinds]
    for chosen_action in chosen:  # a missing secret is a configuration error: exit 2
        if isinstance(chosen_action, WebhookAction):
            webhook_secret(chosen_action, rule.name)
    firing = synthetic_firing(rule, now_ms=now_ms(), value=value)
    with output.stdout_to_stderr(as_json), _alert_lines_on_stderr():
        if any(a.kind == "pipeline" for a in chosen):
            from loopml.cli.resolve import open_client

            with open_client() as client:
                outcomes = fire(firing, project=project, client=client, kinds=kinds)
        else:
            outcomes = fire(firing, project=project, kinds=kinds)
    if as_json:
        output.print_json({"firing": firing.to_dict(), "actions": [o.to_dict() for o in outcomes]})
    else:
        out = output.console()
        out.print(
            f"Test firing of {rule.name}: {rule.signal} = {firing.value:g} ({rule.condition}); "
            f"delivery {firing.delivery_id}",
            markup=False,
            soft_wrap=True,
        )
        if not outcomes:
            out.print("No action of the kinds asked for.", markup=False)
        for outcome in outcomes:
            mark = "ok    " if outcome.ok else "FAILED"
            out.print(f"  {mark} {outcome.detail}", markup=False, soft_wrap=True)
    if not all(outcome.ok for outcome in outcomes):
        raise typer.Exit(1)


@contextmanager
def _alert_lines_on_stderr() -> Iterator[None]:
    """Show what logger ``loopml.alerts`` writes (the log action, webhook retries) on stderr."""
    logger = logging.getLogger("loopml.alerts")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
