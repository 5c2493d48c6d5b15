"""Dataset versions, the datasets a run read and the digests garbage collection must keep:
the datasets slice of :class:`~loopml.stores.metadata.sql.store.SqlMetadataStore`.
"""

from __future__ import annotations

from collections.abc import Sequence

from loopml.core.entities import DatasetInput, DatasetVersion, Page
from loopml.core.refs import format_dataset_ref
from loopml.stores.metadata.base import NewEvent, ReferencedDigests
from loopml.stores.metadata.pages import DEFAULT_MAX_RESULTS
from loopml.stores.metadata.sql import datasets as dataset_rows
from loopml.stores.metadata.sql import paging, references, registry_pages
from loopml.stores.metadata.sql.connections import SqlStoreBase
from loopml.stores.metadata.sql.event_store import audited, insert_event
from loopml.stores.metadata.sql.writes import (
    check_dataset_name,
    check_dataset_version,
    check_id,
    validate_dataset_inputs,
    validate_dataset_version,
)


class SqlDatasetStore(SqlStoreBase):
    """Dataset versions and dataset inputs on SQLite or PostgreSQL."""

    # datasets (see .datasets for how versions are numbered)

    def add_dataset_version(
        self, new: DatasetVersion, *, event: NewEvent | None = None
    ) -> tuple[DatasetVersion, bool]:
        spec = validate_dataset_version(new)
        with self._write() as conn:
            if spec.run_id is not None:
                self._require_run(conn, spec.run_id, lock=True)
            version, added = dataset_rows.add_version(conn, spec)
            if added:
                payload = {"version": version.version, "tree_digest": version.tree_digest}
                target = f"dataset:{version.dataset}"
                insert_event(conn, audited(event, "dataset.add_version", target, payload))
            return version, added

    def get_dataset_version(self, dataset: str, version: int | None = None) -> DatasetVersion:
        name = check_dataset_name(dataset)
        number = None if version is None else check_dataset_version(name, version)
        with self._read() as conn:
            return dataset_rows.get_version(conn, name, number)

    def list_dataset_versions(self, dataset: str | None = None) -> list[DatasetVersion]:
        name = None if dataset is None else check_dataset_name(dataset)
        with self._read() as conn:
            return dataset_rows.list_versions(conn, name)

    def page_dataset_versions(
        self,
        dataset: str | None = None,
        *,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
        newest_first: bool = False,
    ) -> Page[DatasetVersion]:
        name = None if dataset is None else check_dataset_name(dataset)
        limit = paging.check_max_results(max_results)
        with self._read() as conn:
            return registry_pages.dataset_versions_page(conn, name, limit, page_token, newest_first)

    def delete_dataset_version(
        self, dataset: str, version: int | None = None, *, event: NewEvent | None = None
    ) -> None:
        name = check_dataset_name(dataset)
        number = None if version is None else check_dataset_version(name, version)
        with self._write() as conn:
            dataset_rows.delete(conn, name, number)
            action = "dataset.delete" if number is None else "dataset.delete_version"
            payload = {} if number is None else {"version": number}
            insert_event(conn, audited(event, action, f"dataset:{name}", payload))

    def add_dataset_inputs(
        self, run_id: str, inputs: Sequence[tuple[str, int]], *, event: NewEvent | None = None
    ) -> None:
        check_id("run", run_id)
        pairs = validate_dataset_inputs(inputs)
        with self._write() as conn:
            self._require_run(conn, run_id, lock=True)
            dataset_rows.add_inputs(conn, run_id, pairs)
            if pairs:
                used = sorted({format_dataset_ref(name, number) for name, number in pairs})
                payload = {"inputs": used}
                insert_event(conn, audited(event, "run.use_datasets", f"run:{run_id}", payload))

    def list_dataset_inputs(
        self, *, run_id: str | None = None, dataset: str | None = None
    ) -> list[DatasetInput]:
        run = None if run_id is None else check_id("run", run_id)
        name = None if dataset is None else check_dataset_name(dataset)
        with self._read() as conn:
            return dataset_rows.list_inputs(conn, run, name)

    # garbage collection
    def list_referenced_digests(self) -> ReferencedDigests:
        """Every digest the metadata names (see :mod:`.references`), in one read."""
        with self._read() as conn:
            return references.referenced_digests(conn)
