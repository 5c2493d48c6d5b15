"""``loopml agent``: run the retraining loop, once (``--once``) or until SIGTERM."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopml.cli import output
from loopml.cli.resolve import open_client
from loopml.core.durations import DURATION_FORMS, parse_duration_ms
from loopml.core.errors import InvalidInputError, LeaseHeldError

if TYPE_CHECKING:
    from loopml.loop.agent_tick import TickReport


def agent_command(
    once: Annotated[
        bool, typer.Option("--once", help="Run one tick, print what it did, and exit.")
    ] = False,
    tick: Annotated[
        str, typer.Option("--tick", help="Time between two ticks (like 30s, 5m).")
    ] = "30s",
    lease_ttl: Annotated[
        str,
        typer.Option(
            "--lease-ttl",
            help="How long the agent's lease lasts unrenewed: a second agent takes over this "
            "long after the first one died.",
        ),
    ] = "30s",
    holder: Annotated[
        str | None,
        typer.Option("--holder", help="This agent's name in the lease [default: HOST:PID]."),
    ] = None,
    path: Annotated[
        Path | None,
        typer.Option("--path", help="The project folder holding loopml.yaml [default: here]."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print nothing but errors (and --json).")
    ] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Run the retraining loop of loopml.yaml's 'retraining:' section: per model, carry on
    the decisions left open, retrain when a trigger fires (the pipeline runs in a process of
    its own, on the newest data version), gate the candidate, promote it or hold it for
    approval, and roll the alias back when the rollback guard says so; then fire the alert
    rules. Every decision is recorded ('loopml loop log').

    One agent acts per project: it holds a lease in the store. A second one waits and takes
    over when the first's lease lapses (--lease-ttl after it died). SIGTERM or Ctrl-C: the
    agent finishes the write in progress, releases the lease and exits 0; a training in
    progress goes on and the next agent picks it up. With --once it runs one tick and exits:
    0, 1 when a model's tick failed (the error is in the report), 3 when another agent holds
    the lease.

    Examples:

        loopml agent --once
        loopml agent --once --json | jq '.models[0].decided'
        loopml agent --tick 1m --lease-ttl 30s --holder agent-1
    """
    from loopml.loop.agent import LeaseKeeper, agent_lease_name, run_agent
    from loopml.loop.agent_tick import default_holder, tick_once

    tick_ms, ttl_ms = _duration("--tick", tick), _duration("--lease-ttl", lease_ttl)
    project = path or Path.cwd()
    name = holder or default_holder()
    out = output.console(stderr=as_json, quiet=quiet)

    def say(line: str) -> None:
        out.print(line, markup=False, soft_wrap=True)

    stop = threading.Event()
    previous = _on_stop_signals(stop)
    try:
        with open_client() as client:
            if not once:
                run_agent(
                    client,
                    project,
                    tick_ms=tick_ms,
                    lease_ttl_ms=ttl_ms,
                    holder=name,
                    stop=stop,
                    progress=say,
                )
                return
            keeper = LeaseKeeper(client, agent_lease_name(client, project), name, ttl_ms)
            lease = keeper.acquire()
            if lease is None:
                current = client.loop.get_lease(keeper.name)
                other = current.holder if current is not None else "another agent"
                raise LeaseHeldError(
                    f"{other} holds the agent lease {keeper.name}: one agent acts at a time. "
                    "Stop it first, or let it do the work."
                )
            try:
                report = tick_once(
                    client, project, lease=lease, progress=say, stop=stop, holder=name
                )  # fmt: skip
            finally:
                keeper.release()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if as_json:
        output.print_json(report.to_dict())
    elif not quiet:
        _print_report(report)
    if report.errors:
        raise typer.Exit(1)


def _duration(option: str, text: str) -> int:
    value = parse_duration_ms(text)
    if value is None or value <= 0:
        raise InvalidInputError(f"{option} expects {DURATION_FORMS}; got {text!r}.")
    return value


def _on_stop_signals(stop: threading.Event) -> dict[int, Any]:
    """SIGTERM and SIGINT set ``stop`` (the agent stops between two writes)."""

    def handler(number: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[int, Any] = {}
    for number in (signal.SIGTERM, signal.SIGINT):
        previous[number] = signal.signal(number, handler)
    return previous


def _print_report(report: TickReport) -> None:
    out = output.console()
    if not report.models:
        out.print("No 'retraining:' section in loopml.yaml: nothing to look after.")
    for model in report.models:
        lines = [f"  resumed {_move(d)}" for d in model.resumed]
        if model.decided is not None:
            lines.append(f"  decided {_move(model.decided)}")
        if model.rollback is not None:
            lines.append(
                f"  rollback guard: {model.rollback['action']}: {model.rollback['reason']}"
            )
        if model.error is not None:
            lines.append(f"  error: {model.error}")
        out.print(model.model, markup=False)
        for line in lines or ["  nothing to do"]:
            out.print(line, markup=False, soft_wrap=True)
    for alert in report.alerts:
        out.print(f"alert {alert['rule']} fired on {alert['model']}: {alert['value']:g}",
                  markup=False)  # fmt: skip
    if report.alert_error is not None:
        out.print(f"alerts: error: {report.alert_error}", markup=False, soft_wrap=True)


def _move(moved: dict[str, Any]) -> str:
    text = f"{moved['trigger']} decision {moved['id'][:8]}: {moved['from']} -> {moved['state']}"
    detail = moved.get("error") or moved.get("action")
    return f"{text} ({detail})" if detail else text
