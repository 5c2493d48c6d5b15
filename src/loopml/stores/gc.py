"""Garbage collection of an artifact store: what no metadata names, and no writer is using.

The roots are every digest the metadata store names (run artifacts, dataset versions' trees
and profiles, model versions, lineage edges, digests in tags and params — see
:mod:`loopml.stores.metadata.sql.references`); trees among them are read and their entries
count as referenced too. Everything else the artifact store holds — unreferenced blobs, packs
none of whose blobs is referenced, and leftovers of interrupted writes in its ``tmp/`` folder
— is removable once it is older than the grace period.

The grace period is what makes this safe beside running writers: a writer stores its blobs
first and records them afterwards, so a blob it has not recorded yet is young. A put that
finds its blob stored already touches it (local store), and removal checks the time again
as it removes. Before removing, the references are read a second time, so a blob recorded
between the plan and the removal stays.

>>> plan = plan_collection(metadata, artifacts, grace_seconds=86400)  # doctest: +SKIP
>>> removed = collect(plan, metadata, artifacts)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from loopml.core.errors import ConfigError, IntegrityError, InvalidInputError, NotFoundError
from loopml.core.hashing import Digest
from loopml.stores.artifacts.base import ArtifactStore, CollectableArtifactStore, StoredObject
from loopml.stores.artifacts.trees import get_tree
from loopml.stores.metadata.base import MetadataStore, ReferenceListingMetadataStore

DEFAULT_GRACE_SECONDS = 24 * 60 * 60
KINDS = ("blob", "pack", "temp")


@dataclass(frozen=True)
class Totals:
    """How many objects and how many bytes."""

    count: int = 0
    bytes: int = 0

    def plus(self, item: StoredObject) -> Totals:
        return Totals(self.count + 1, self.bytes + item.size)


@dataclass(frozen=True)
class CollectionPlan:
    """What a collection would remove and what it keeps, and why.

    ``missing_trees``: referenced trees that could not be read; their entries are unknown,
    so no blob or pack is removable while there are any (temp leftovers still are)."""

    removable: tuple[StoredObject, ...]
    referenced: Totals
    young: Totals
    cutoff: float
    missing_trees: tuple[str, ...]

    def removable_totals(self, kind: str | None = None) -> Totals:
        totals = Totals()
        for item in self.removable:
            if kind is None or item.kind == kind:
                totals = totals.plus(item)
        return totals


def plan_collection(
    metadata: MetadataStore,
    artifacts: ArtifactStore,
    *,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    now: float | None = None,
) -> CollectionPlan:
    """List what is removable: unreferenced and older than ``grace_seconds``. Removes nothing."""
    referencing, collectable = _capable(metadata, artifacts)
    if grace_seconds < 0:
        raise InvalidInputError(f"The grace period must be 0 or more seconds. Got {grace_seconds}.")
    cutoff = (time.time() if now is None else now) - grace_seconds
    stored = list(collectable.list_stored())  # listed before the references: see collect()
    live, missing = referenced_digests(referencing, artifacts)
    removable: list[StoredObject] = []
    referenced, young = Totals(), Totals()
    for item in stored:
        if _is_referenced(item, live):
            referenced = referenced.plus(item)
        elif item.mtime > cutoff:
            young = young.plus(item)
        elif item.kind == "temp" or not missing:
            removable.append(item)
        else:
            referenced = referenced.plus(item)  # kept: a missing tree may name it
    return CollectionPlan(tuple(removable), referenced, young, cutoff, tuple(sorted(missing)))


def collect(plan: CollectionPlan, metadata: MetadataStore, artifacts: ArtifactStore) -> Totals:
    """Remove what ``plan`` found removable, except what was referenced or touched since;
    returns what was removed."""
    referencing, collectable = _capable(metadata, artifacts)
    live, missing = referenced_digests(referencing, artifacts)
    removed = Totals()
    for item in plan.removable:
        if item.kind != "temp" and (missing or _is_referenced(item, live)):
            continue
        if collectable.remove_stored(item, cutoff=plan.cutoff):
            removed = removed.plus(item)
    return removed


def referenced_digests(
    metadata: ReferenceListingMetadataStore, artifacts: ArtifactStore
) -> tuple[set[str], set[str]]:
    """Every referenced digest, trees expanded (trees list files only, so one level deep),
    and the referenced trees that could not be read."""
    named = metadata.list_referenced_digests()
    live = set(named.blobs) | set(named.trees)
    missing: set[str] = set()
    for text in sorted(named.trees):
        try:
            live.update(str(entry.digest) for entry in get_tree(artifacts, Digest.parse(text)))
        except InvalidInputError:
            continue  # a plain blob (a tag value that is not a tree), or not a digest at all
        except (NotFoundError, IntegrityError):
            missing.add(text)
    return live, missing


def _is_referenced(item: StoredObject, live: set[str]) -> bool:
    if item.kind == "blob":
        return item.name in live
    if item.kind == "pack":
        return any(blob in live for blob in item.blobs)
    return False


def _capable(
    metadata: MetadataStore, artifacts: ArtifactStore
) -> tuple[ReferenceListingMetadataStore, CollectableArtifactStore]:
    if not isinstance(metadata, ReferenceListingMetadataStore) or not isinstance(
        artifacts, CollectableArtifactStore
    ):
        raise ConfigError(
            "Garbage collection needs direct access to both stores; "
            f"{_names([metadata, artifacts])} cannot list what they hold. Run 'loopml gc' "
            "where the stores are reachable (on "
            "the server's machine, with LOOPML_STORE_URI and LOOPML_ARTIFACT_URI set to the "
            "server's stores), not through LOOPML_SERVER_URL."
        )
    return metadata, artifacts


def _names(stores: Iterable[object]) -> str:
    return " and ".join(type(store).__name__ for store in stores)
