"""``loopml loop``: what the retraining loop decided (``log``) and the policy it follows
(``policy``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopml.cli import output
from loopml.cli.resolve import open_client
from loopml.core.loop_records import Decision, DecisionState
from loopml.loop.evidence import summarise_evidence

if TYPE_CHECKING:
    from loopml.loop.policy import LoopPolicy

app = typer.Typer(
    help="The retraining loop: every decision it took with its evidence, and its policy "
    "(the 'retraining:' section of loopml.yaml).",
    no_args_is_help=True,
)
PAGE = 100


@app.command("log")
def log_command(
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Only decisions about this model.")
    ] = None,
    state: Annotated[
        list[DecisionState] | None,
        typer.Option("--state", "-s", help="Only decisions in this state (repeatable)."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="Show at most this many decisions.")
    ] = 20,
    as_json: output.JsonFlag = False,
) -> None:
    """List the loop's decisions, newest first: when, which model, what triggered it and the
    numbers, the pipeline run, the candidate version, the gate result and what was done.

    Examples:

        loopml loop log
        loopml loop log --model churn --state promoted --state rolled_back
        loopml loop log --json | jq '.[0].evidence'
    """
    decisions: list[Decision] = []
    token: str | None = None
    with open_client() as client:
        while len(decisions) < limit:
            page = client.loop.list_decisions(
                model=model,
                states=tuple(state or ()),
                max_results=min(PAGE, limit - len(decisions)),
                page_token=token,
            )
            decisions += page.items
            token = page.next_page_token
            if token is None:
                break
    if as_json:
        output.print_json([d.to_dict() for d in decisions])
        return
    out = output.console()
    if not decisions:
        out.print(
            "The loop has decided nothing yet." if not (model or state) else "No decision matches."
        )
        return
    out.print(decisions_table(decisions))


@app.command("policy")
def policy_command(
    path: Annotated[
        Path | None,
        typer.Option("--path", help="The project folder holding loopml.yaml [default: here]."),
    ] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Show the retraining policy read from loopml.yaml; exit 2 (naming the file, line,
    column and field) when it is malformed.

    Examples:

        loopml loop policy
        loopml loop policy --json | jq '.retraining[0].triggers'
    """
    from loopml.loop.policy import load_loop_policy

    policy = load_loop_policy(path or Path.cwd())
    if as_json:
        output.print_json(policy_json(policy))
        return
    out = output.console()
    if not policy.retraining:
        out.print(f"No 'retraining:' section in {policy.source}: the loop retrains nothing.")
        return
    for entry in policy_json(policy)["retraining"]:
        out.print(f"{entry['model']}  ({entry['source']})", markup=False, soft_wrap=True)
        for key, value in entry.items():
            if key not in ("model", "source") and value not in (None, {}):
                out.print(f"  {key}: {_text(value)}", markup=False, soft_wrap=True)


def policy_json(policy: LoopPolicy) -> dict[str, Any]:
    """The policy as JSON: durations in ms, paths as text, unset triggers left out."""
    entries = []
    for entry in policy.retraining:
        triggers = {
            name: dataclasses.asdict(trigger)
            for name in ("drift", "decay", "schedule", "new_data")
            if (trigger := getattr(entry, name)) is not None
        }
        guard = entry.rollback_guard
        entries.append(
            {
                "model": entry.ref,
                "source": entry.source,
                "pipeline": entry.pipeline,
                "dataset": entry.dataset,
                "data_param": entry.data_param,
                "triggers": triggers,
                "gate": None if entry.gate is None else str(entry.gate),
                "promotion": str(entry.promotion),
                "rollback_guard": None if guard is None else dataclasses.asdict(guard),
                "cooldown_ms": entry.cooldown_ms,
                "feedback": None if entry.feedback is None else dataclasses.asdict(entry.feedback),
            }
        )
    return {"source": policy.source, "retraining": entries}


def _text(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key}={_text(item)}" for key, item in value.items() if item is not None)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def decisions_table(decisions: list[Decision]) -> object:
    """The decisions as `loopml loop log` shows them (a rich table)."""
    from rich.table import Table

    table = Table(header_style="bold")
    for header in (
        "time",
        "model",
        "trigger",
        "evidence",
        "run",
        "candidate",
        "gate",
        "state",
        "action",
    ):
        table.add_column(header)
    for d in decisions:
        table.add_row(
            output.format_time(d.created_at),
            output.escape(f"{d.model}@{d.alias}"),
            str(d.trigger),
            output.escape(summarise_evidence(d)),
            "" if d.pipeline_run_id is None else output.short_id(d.pipeline_run_id),
            "" if d.candidate_version is None else str(d.candidate_version),
            "" if d.gate_result_id is None else output.short_id(d.gate_result_id),
            str(d.state),
            output.escape(
                d.error if d.state is DecisionState.FAILED and d.error else d.action or ""
            ),
        )
    return table
