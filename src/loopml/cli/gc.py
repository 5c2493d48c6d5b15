"""``loopml gc``: remove what crashes and deletions left in the artifact store (dry run first)."""

from __future__ import annotations

import re
import time
from dataclasses import asdict
from typing import Annotated

import typer

from loopml.cli import output
from loopml.cli.data_views import format_size
from loopml.cli.resolve import open_client
from loopml.cli.spool import spool_document, spool_lines
from loopml.core.errors import ConfigError, InvalidInputError
from loopml.stores.artifacts.base import StoredObject
from loopml.stores.gc import CollectionPlan, Totals, collect, plan_collection
from loopml.stores.scratch import list_system_scratch, remove_system_scratch
from loopml.tracking.spool_recovery import recover_spools

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_LABELS = {
    "blob": ("unreferenced blob", "unreferenced blobs"),
    "pack": ("unreferenced pack", "unreferenced packs"),
    "temp": ("leftover in the store's tmp/", "leftovers in the store's tmp/"),
    "scratch": ("leftover in the system temp folder", "leftovers in the system temp folder"),
}


def parse_grace(text: str) -> float:
    """Seconds from ``30``, ``45s``, ``10m``, ``12h`` or ``1d``."""
    found = _DURATION.match(text)
    if found is None:
        raise InvalidInputError(
            f"The --grace option of 'loopml gc' must be a duration like 1d, 12h, 30m, 45s or 0. "
            f"Got {text!r} instead."
        )
    return float(found.group(1)) * _UNITS[found.group(2) or "s"]


def gc_command(
    grace: Annotated[
        str,
        typer.Option(
            "--grace",
            help="Keep anything written more recently than this (1d, 12h, 30m, 0): a writer "
            "running now may not have recorded its blobs yet.",
        ),
    ] = "1d",
    apply: Annotated[
        bool, typer.Option("--apply", "--yes", "-y", help="Remove (default: only list).")
    ] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Find what nothing references in the artifact store: blobs and packs no run, dataset
    version, model version or lineage edge names, and the leftovers of killed writes (.part
    files, unfinished packs, scratch folders; also loopml's folders in the system temp folder
    whose process has ended). Lists them; --apply removes them.

    Also sends the metrics and tags that crashed processes left unsent in their spool, and
    removes spooled batches that cannot be sent (their run is gone) once older than --grace.

    Safe beside running writers: nothing younger than --grace is removed, and references are
    read again just before removing. Works on local and S3 artifact stores; run it where the
    stores are, not through LOOPML_SERVER_URL.

    Examples:

        loopml gc                 # what would be removed
        loopml gc --apply         # remove it
        loopml gc --grace 0 --apply --json
    """
    grace_seconds = parse_grace(grace)
    with open_client() as client:
        if client.spec.server_url:
            raise ConfigError(
                "'loopml gc' works on the stores directly, not through a server "
                f"(LOOPML_SERVER_URL is {output.redact_uri(client.spec.server_url)}). Run it on "
                "the server's machine with LOOPML_STORE_URI and LOOPML_ARTIFACT_URI set to the "
                "server's stores; it is safe beside the running server."
            )
        spooled = recover_spools(
            client.batcher.spool_root,
            client.metadata,
            remove_older_than=grace_seconds,
            dry_run=not apply,
        )
        plan = plan_collection(client.metadata, client.artifacts, grace_seconds=grace_seconds)
        scratch = [item for item in list_system_scratch() if item.mtime <= plan.cutoff]
        removed = None
        if apply:
            removed = collect(plan, client.metadata, client.artifacts)
            for item in scratch:
                remove_system_scratch(item)
                removed = removed.plus(item)
        store = output.redact_uri(client.artifacts.uri)
    if as_json:
        document = _document(plan, scratch, removed, store, grace_seconds)
        output.print_json({**document, "spool": spool_document(spooled)})
        return
    for line in spool_lines(spooled, dry_run=not apply):
        output.console().print(line, markup=False)
    _print_plan(plan, scratch, removed, store, grace)


def _all(plan: CollectionPlan, scratch: list[StoredObject]) -> list[StoredObject]:
    return [*plan.removable, *scratch]


def _totals(items: list[StoredObject], kind: str | None = None) -> Totals:
    totals = Totals()
    for item in items:
        if kind is None or item.kind == kind:
            totals = totals.plus(item)
    return totals


def _document(
    plan: CollectionPlan,
    scratch: list[StoredObject],
    removed: Totals | None,
    store: str,
    grace_seconds: float,
) -> dict[str, object]:
    items = _all(plan, scratch)
    return {
        "artifact_uri": store,
        "applied": removed is not None,
        "grace_seconds": grace_seconds,
        "removable": [
            {"kind": item.kind, "name": item.name, "size": item.size, "mtime": item.mtime}
            for item in items
        ],
        "totals": {kind: asdict(_totals(items, kind)) for kind in _LABELS},
        "removable_total": asdict(_totals(items)),
        "removed": asdict(removed) if removed is not None else None,
        "kept": {"referenced": asdict(plan.referenced), "young": asdict(plan.young)},
        "missing_trees": list(plan.missing_trees),
    }


def _print_plan(
    plan: CollectionPlan,
    scratch: list[StoredObject],
    removed: Totals | None,
    store: str,
    grace: str,
) -> None:
    out = output.console()
    items = _all(plan, scratch)
    now = time.time()
    for item in items:
        age = output.format_duration(int((now - item.mtime) * 1000))
        line = f"  {item.kind:<7} {format_size(item.size):>9}  {age:>8} old  {item.name}"
        out.print(line, markup=False)
    parts = []
    for kind, (one, many) in _LABELS.items():
        totals = _totals(items, kind)
        if totals.count:
            parts.append(f"{totals.count} {one if totals.count == 1 else many}")
    total = _totals(items)
    verb = "Removed" if removed is not None else "Would remove"
    if parts:
        size = format_size(removed.bytes if removed is not None else total.bytes)
        out.print(f"{verb} {', '.join(parts)} ({size}) from {store}.", markup=False)
    else:
        out.print(f"Nothing to remove from {store}.", markup=False)
    out.print(
        f"Kept {plan.referenced.count} referenced ({format_size(plan.referenced.bytes)}) and "
        f"{plan.young.count} younger than --grace {grace} ({format_size(plan.young.bytes)}).",
        markup=False,
    )
    if removed is not None and removed.count < total.count:
        skipped = total.count - removed.count
        out.print(f"{skipped} were written or referenced meanwhile and were kept.", markup=False)
    if plan.missing_trees:
        shown = ", ".join(plan.missing_trees[:3])
        out.print(
            f"[yellow]{len(plan.missing_trees)} referenced trees are missing or corrupted "
            f"({output.escape(shown)}{', …' if len(plan.missing_trees) > 3 else ''}): no blob "
            "or pack is removed while the files they list are unknown.[/]"
        )
    if removed is None and items:
        out.print("Run 'loopml gc --apply' to remove them.", markup=False)
