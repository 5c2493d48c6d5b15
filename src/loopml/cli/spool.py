"""What ``loopml runs gc`` and ``loopml gc`` did with the spools of crashed processes
(:mod:`loopml.tracking.spool_recovery`), for people and for ``--json``."""

from __future__ import annotations

from loopml.tracking.spool_recovery import SpoolRecovery

__all__ = ["spool_document", "spool_lines"]


def spool_document(outcome: SpoolRecovery) -> dict[str, object]:
    return {
        "resent_batches": outcome.resent_batches,
        "resent_points": outcome.resent_points,
        "removed": [str(path) for path in outcome.removed],
        "unsendable": [str(path) for path in outcome.unsendable],
        "waiting": outcome.waiting,
        "other_stores": outcome.other_stores,
        "problems": list(outcome.notes),
    }


def spool_lines(outcome: SpoolRecovery, *, dry_run: bool) -> list[str]:
    """One line per thing done (nothing when no crashed process left a spool)."""
    lines = []
    if outcome.resent_batches:
        verb = "Would send" if dry_run else "Sent"
        lines.append(
            f"{verb} {outcome.resent_batches} batch(es) ({outcome.resent_points} metrics and "
            "tags) that a crashed process left unsent in its spool."
        )
    if outcome.removed:
        verb = "Would remove" if dry_run else "Removed"
        lines.append(
            f"{verb} {len(outcome.removed)} spooled batch(es) that cannot be sent, older than "
            "the grace period:"
        )
    if outcome.unsendable:
        lines.append(
            f"Kept {len(outcome.unsendable)} spooled batch(es) that cannot be sent, younger "
            "than the grace period ('loopml gc' removes them later):"
        )
    lines.extend(f"  {note}" for note in outcome.notes)
    if outcome.waiting:
        lines.append(
            f"{outcome.waiting} spooled batch(es) wait: the metadata store is unavailable; "
            "run this again once it is back."
        )
    if outcome.other_stores:
        lines.append(
            f"Left {outcome.other_stores} spool(s) of another metadata store alone (a process "
            "of that store sends them)."
        )
    return lines
