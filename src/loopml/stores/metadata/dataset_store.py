"""The datasets slice of the metadata store: dataset versions and the dataset versions a run
used (the bytes are tree objects in an ArtifactStore).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from loopml.core.entities import DatasetInput, DatasetVersion, Page
from loopml.stores.metadata.event_store import NewEvent
from loopml.stores.metadata.pages import DEFAULT_MAX_RESULTS


class DatasetStore(Protocol):
    """Dataset versions (numbered by the store) and dataset inputs of runs."""

    def add_dataset_version(
        self, new: DatasetVersion, *, event: NewEvent | None = None
    ) -> tuple[DatasetVersion, bool]:
        """Record the next version of dataset ``new.dataset`` (created on first use; the
        ``version`` field of ``new`` is ignored and assigned here, 1, 2, …). If the newest
        version already has ``new.tree_digest``, nothing is written and that version is
        returned with ``False``; otherwise the new version with ``True``. Concurrent adders
        never get the same number."""
        ...

    def get_dataset_version(self, dataset: str, version: int | None = None) -> DatasetVersion:
        """Version ``version`` of ``dataset`` (None: the newest); :class:`NotFoundError` names
        the dataset and version, and lists the versions that exist."""
        ...

    def list_dataset_versions(self, dataset: str | None = None) -> list[DatasetVersion]:
        """Every version of ``dataset`` oldest first, or the newest version of every dataset
        (by name) when ``dataset`` is None."""
        ...

    def page_dataset_versions(
        self,
        dataset: str | None = None,
        *,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
        newest_first: bool = False,
    ) -> Page[DatasetVersion]:
        """As :meth:`list_dataset_versions`, a page at a time: the versions of ``dataset``
        oldest (or newest) first, or the newest version of each dataset by name (code point
        order). A bad or foreign token → :class:`InvalidInputError`."""
        ...

    def delete_dataset_version(
        self, dataset: str, version: int | None = None, *, event: NewEvent | None = None
    ) -> None:
        """Delete one version, or the whole dataset when ``version`` is None (blobs stay in
        the artifact store until garbage collection). Numbers are never reused."""
        ...

    def add_dataset_inputs(
        self, run_id: str, inputs: Sequence[tuple[str, int]], *, event: NewEvent | None = None
    ) -> None:
        """Record that the run used these ``(dataset, version)`` pairs (idempotent)."""
        ...

    def list_dataset_inputs(
        self, *, run_id: str | None = None, dataset: str | None = None
    ) -> list[DatasetInput]:
        """Lineage edges, filtered by run and/or dataset."""
        ...
