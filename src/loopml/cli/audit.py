"""``loopml audit``: read, export, verify and anchor the hash-chained audit log."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from loopml.cli import output
from loopml.core.audit_chain import Anchor, ChainReport
from loopml.core.config import load_config
from loopml.core.errors import ConfigError
from loopml.stores.metadata.base import MetadataStore
from loopml.stores.registry import open_metadata_store
from loopml.tracking.audit_log import (
    EventFilter,
    event_record,
    iter_events,
    parse_since,
    select_events,
    verify_log,
)

app = typer.Typer(
    help="The audit log: every change to the store (who, when, what, to which object), "
    "hash-chained so that an edited, inserted, deleted or reordered entry is found.",
    no_args_is_help=True,
)


@contextmanager
def audit_store() -> Iterator[MetadataStore]:
    """The metadata store holding the log: the nearest project's (or ``LOOPML_STORE_URI``;
    no artifact store needed), or the server ``LOOPML_SERVER_URL`` names."""
    config = load_config()
    uri = config.server_url or config.store_uri
    if uri is None:
        raise ConfigError(
            "No loopml project here: no .loopml folder in this directory or its parents. Run "
            "'loopml init', or set LOOPML_STORE_URI or LOOPML_SERVER_URL."
        )
    store = open_metadata_store(uri, token=config.token)
    try:
        yield store
    finally:
        store.close()


@app.command("log")
def log_command(
    since: Annotated[
        str | None,
        typer.Option(help="Only events since a duration ago (24h, 7d) or a date (2026-12-01)."),
    ] = None,
    actor: Annotated[
        str | None, typer.Option(help="Only events by this actor (local:alice, a user).")
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            help="Only events to this target (model:churn); 'model:' or 'run:*': every one."
        ),
    ] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """List the events, oldest first."""
    wanted = EventFilter(None if since is None else parse_since(since), actor, target)
    with audit_store() as store:
        events = list(select_events(store, wanted))
    if as_json:
        output.print_json([event_record(e) for e in events])
        return
    console = output.console()
    if not events:
        console.print("No events match.")
        return
    for e in events:
        details = json.dumps(e.payload, sort_keys=True, ensure_ascii=False)
        console.print(
            f"{e.seq:>6}  {output.format_time(e.timestamp)}  {output.escape(e.actor)}  "
            f"{output.escape(e.action)}  {output.escape(e.target)}  {output.escape(details)}",
            soft_wrap=True,
        )


@app.command("export")
def export_command() -> None:
    """Print every event as JSON lines (one object a line, oldest first), with its hashes:
    what an external archive or SIEM ingests."""
    with audit_store() as store:
        write = sys.stdout.write
        for event in iter_events(store):
            record = event_record(event)
            write(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")


@app.command("verify")
def verify_command(
    anchor: Annotated[
        list[str] | None,
        typer.Option(
            "--anchor",
            help="DIGEST@POSITION printed by 'loopml audit anchor' earlier: the log must still "
            "hold that entry (catches a rewritten or truncated log). Repeatable.",
        ),
    ] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Check every link of the chain; exit 1 and name the first bad position if an entry was
    edited, inserted, deleted or moved (or an anchor no longer matches)."""
    anchors = [Anchor.parse(text) for text in anchor or []]
    with audit_store() as store:
        report = verify_log(store, anchors)
    _report(report, as_json=as_json)
    if not report.ok:
        raise typer.Exit(1)


@app.command("anchor")
def anchor_command(as_json: output.JsonFlag = False) -> None:
    """Verify the log, then print its head as DIGEST@POSITION: keep it outside the store (a
    ticket, a signed mail, another system) and pass it to 'loopml audit verify --anchor'
    later to prove the log was not rewritten since."""
    with audit_store() as store:
        report = verify_log(store)
    if not report.ok:
        _report(report, as_json=as_json)
        raise typer.Exit(1)
    head = "" if report.head is None else str(report.head)
    if as_json:
        output.print_json({"anchor": head or None, "entries": report.entries})
    elif head:
        typer.echo(head)
    else:
        output.console(stderr=True).print("The audit log is empty: nothing to anchor yet.")


def _report(report: ChainReport, *, as_json: bool) -> None:
    head = None if report.head is None else str(report.head)
    if as_json:
        output.print_json(
            {
                "ok": report.ok,
                "entries": report.entries,
                "head": head,
                "first_bad_position": report.first_bad,
                "problem": report.problem or None,
            }
        )
    elif report.ok:
        output.console().print(
            f"OK: {report.entries} entries, head {head or '(empty)'}.", soft_wrap=True
        )
    else:
        output.print_error(
            f"The audit log is broken at position {report.first_bad}. {report.problem} "
            f"The {report.entries} entries before it verify."
        )
