"""Spools that a process left when it died before its batches reached the store: found, sent
again, and cleaned.

A batcher spools to ``<root>/<pid>-<id>/`` (:class:`~loopml.tracking.spool.BatchSpool`), with
the store it writes to recorded in ``store.key`` (a hash of the store's URI, never the URI: it
may hold a password). A spool whose process has ended is *orphaned*. The next batcher of the
same store sends its batches again when it starts, as do ``loopml runs gc`` and ``loopml gc
--apply``: every batch keeps its id and the store stores a batch id once per run, so a batch
the dead process had already stored (its answer lost) is not stored twice.

A batch that cannot be sent — its run was deleted, the store rejects it, the file is torn —
stays for ``loopml gc``, which removes it once it is older than the grace period. A batch is
never removed because the store is away: it waits for the next recovery. A spool is claimed
by renaming it to the claimer's own ``<pid>-<id>``, so two processes never send one at once
and, should the claimer die too, the next process finds it orphaned again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

from loopml.core.errors import BackendUnavailableError, LoopMLError, NotFoundError
from loopml.core.ids import new_id
from loopml.stores.metadata.base import MetadataStore
from loopml.stores.scratch import process_running
from loopml.tracking.spool import STORE_KEY_FILE, PendingBatch

__all__ = ["SpoolRecovery", "orphaned_spools", "recover_spools", "store_key"]

_FOLDER = re.compile(r"^(\d+)-[0-9a-z]+$")


def store_key(uri: str) -> str:
    """What a spool records of the store it belongs to: a hash of the store's URI."""
    return hashlib.sha256(uri.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SpoolRecovery:
    """What a recovery did (or, in a dry run, would do)."""

    resent_batches: int = 0
    resent_points: int = 0
    removed: tuple[Path, ...] = ()  # batches that cannot be sent, older than the grace
    unsendable: tuple[Path, ...] = ()  # batches that cannot be sent, kept (younger)
    waiting: int = 0  # batches left because the store is away
    other_stores: int = 0  # orphaned spools of another store, left alone
    notes: tuple[str, ...] = ()  # why each batch cannot be sent


def orphaned_spools(root: Path, key: str) -> tuple[list[Path], int]:
    """The spools under ``root`` whose process has ended and that belong to the store with
    ``key`` (a spool older than ``store.key`` counts as this store's), and how many orphaned
    spools belong to another store."""
    try:
        entries = sorted(os.scandir(root), key=lambda entry: entry.name)
    except OSError:
        return [], 0
    mine: list[Path] = []
    others = 0
    for entry in entries:
        found = _FOLDER.match(entry.name)
        if found is None or not entry.is_dir(follow_symlinks=False):
            continue
        if process_running(int(found.group(1))):
            continue
        recorded = _read_key(Path(entry.path))
        if recorded is None or recorded == key:
            mine.append(Path(entry.path))
        else:
            others += 1
    return mine, others


def recover_spools(
    root: Path,
    store: MetadataStore,
    *,
    remove_older_than: float | None = None,
    dry_run: bool = False,
) -> SpoolRecovery:
    """Send again the batches of every orphaned spool of ``store`` under ``root``, oldest
    first. Batches that cannot be sent are removed when they are older than
    ``remove_older_than`` seconds (None: kept); with ``dry_run`` nothing is sent or removed,
    and the answer says what would be."""
    spools, others = orphaned_spools(root, store_key(store.uri))
    outcome = SpoolRecovery(other_stores=others)
    cutoff = None if remove_older_than is None else time.time() - remove_older_than
    for folder in spools:
        claimed = folder if dry_run else _claim(folder)
        if claimed is None:
            continue  # another process claimed it first
        outcome = _recover(claimed, store, outcome, cutoff, dry_run=dry_run)
        if outcome.waiting:
            break  # the store is away: the rest waits too
    return outcome


def _recover(
    folder: Path,
    store: MetadataStore,
    outcome: SpoolRecovery,
    cutoff: float | None,
    *,
    dry_run: bool,
) -> SpoolRecovery:
    files = sorted(path for path in folder.iterdir() if path.name != STORE_KEY_FILE)
    for index, path in enumerate(files):
        batch, problem = _read(path)
        if batch is not None:
            try:
                if dry_run:
                    store.get_run(batch.run_id)
                else:
                    store.log_batch(
                        batch.run_id,
                        metrics=batch.metrics,
                        tags=batch.tags,
                        batch_id=batch.batch_id,
                    )
            except BackendUnavailableError:
                return replace(outcome, waiting=outcome.waiting + len(files) - index)
            except NotFoundError:
                problem = f"its run {batch.run_id} no longer exists"
            except LoopMLError as exc:
                problem = f"the store rejects it: {exc.message}"
            else:
                if not dry_run:
                    path.unlink(missing_ok=True)
                outcome = replace(
                    outcome,
                    resent_batches=outcome.resent_batches + 1,
                    resent_points=outcome.resent_points + batch.points,
                )
                continue
        note = f"{path}: {problem}"
        if cutoff is not None and _mtime(path) <= cutoff:
            if not dry_run:
                path.unlink(missing_ok=True)
            outcome = replace(
                outcome, removed=(*outcome.removed, path), notes=(*outcome.notes, note)
            )
        else:
            outcome = replace(
                outcome, unsendable=(*outcome.unsendable, path), notes=(*outcome.notes, note)
            )
    if not dry_run and all(p.name == STORE_KEY_FILE for p in folder.iterdir()):
        with contextlib.suppress(OSError):
            (folder / STORE_KEY_FILE).unlink(missing_ok=True)
            folder.rmdir()
    return outcome


def _claim(folder: Path) -> Path | None:
    """Rename ``folder`` to this process's name; None when another process took it first."""
    target = folder.with_name(f"{os.getpid()}-{new_id()[:8]}")
    try:
        folder.rename(target)
    except OSError:
        return None
    return target


def _read(path: Path) -> tuple[PendingBatch | None, str]:
    if path.suffix != ".json":
        return None, "an unfinished write (the process died while spooling it)"
    try:
        return PendingBatch.from_json(path.read_bytes()), ""
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"not a readable batch ({exc})"


def _read_key(folder: Path) -> str | None:
    try:
        return (folder / STORE_KEY_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
