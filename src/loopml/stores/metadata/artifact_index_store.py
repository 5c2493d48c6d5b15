"""The artifact index slice of the metadata store: the files logged to a run and the trees
a run read or wrote (lineage edges); the bytes live in an ArtifactStore.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from loopml.core.entities import ArtifactEdge, ArtifactEntry, ArtifactListing, Page
from loopml.stores.metadata.event_store import NewEvent
from loopml.stores.metadata.pages import DEFAULT_MAX_RESULTS


class ArtifactIndexStore(Protocol):
    """A run's artifact entries and its lineage edges."""

    def add_artifacts(
        self, run_id: str, entries: Sequence[ArtifactEntry], *, event: NewEvent | None = None
    ) -> None:
        """Record files logged to a run; a path logged again points at the new content."""
        ...

    def list_artifact_entries(self, run_id: str, prefix: str = "") -> list[ArtifactEntry]:
        """Every file recorded for the run whose path is ``prefix`` or lies under it."""
        ...

    def list_artifact_children(
        self,
        run_id: str,
        path: str = "",
        *,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
    ) -> Page[ArtifactListing]:
        """The direct children of folder ``path`` (files, and sub-folders without their
        contents), in code point order of the paths under them, a page at a time; when
        ``path`` is a file, that file alone. An unknown run → :class:`NotFoundError`; a bad
        or foreign token → :class:`InvalidInputError`."""
        ...

    # artifact lineage (the trees live in an ArtifactStore)
    def add_artifact_edges(
        self, run_id: str, edges: Sequence[tuple[str, str, str]], *, event: NewEvent | None = None
    ) -> None:
        """Record that the run read (``"input"``) or wrote (``"output"``) these trees, as
        ``(direction, digest, name)`` triples (idempotent; all or nothing). An unknown run →
        :class:`NotFoundError`; a bad direction, digest or name (1–255 characters) →
        :class:`InvalidInputError`."""
        ...

    def list_artifact_edges(
        self, *, run_id: str | None = None, digest: str | None = None
    ) -> list[ArtifactEdge]:
        """Lineage edges filtered by run and/or tree digest, ordered by run id, direction,
        name and digest (code point order on every backend)."""
        ...
