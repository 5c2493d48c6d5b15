"""The metadata store on SQLite or PostgreSQL (SQLAlchemy Core).

>>> store = SqlMetadataStore("sqlite:///.loopml/loopml.db")  # doctest: +SKIP
>>> experiment = store.create_experiment("churn")  # doctest: +SKIP

Opening a store migrates its schema to the newest revision (see :mod:`.migrate`). Every
mutation validates its input first and then runs in one transaction: all or nothing.

The store is put together from one slice per capability, each implementing the protocol of the
same name in :mod:`loopml.stores.metadata`: experiments (:mod:`.experiment_store`), runs
(:mod:`.run_store`), the artifact index and lineage edges (:mod:`.artifact_index_store`),
datasets (:mod:`.dataset_store`), the model registry (:mod:`.model_store`) and the event log
(:mod:`.event_store`), all on one engine (:mod:`.connections`).
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from loopml.stores.metadata.sql.artifact_index_store import SqlArtifactIndexStore
from loopml.stores.metadata.sql.dataset_store import SqlDatasetStore
from loopml.stores.metadata.sql.event_store import SqlEventStore
from loopml.stores.metadata.sql.model_store import SqlModelStore
from loopml.stores.metadata.sql.run_store import SqlRunStore


class SqlMetadataStore(
    SqlRunStore, SqlArtifactIndexStore, SqlDatasetStore, SqlModelStore, SqlEventStore
):
    """:class:`~loopml.stores.metadata.base.MetadataStore` on ``sqlite:///…`` or
    ``postgresql+psycopg://…`` (plain ``postgresql://`` means psycopg too)."""

    def __repr__(self) -> str:
        return f"SqlMetadataStore({self._masked_uri!r})"

    def __enter__(self) -> SqlMetadataStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


if TYPE_CHECKING:  # mypy checks that the slices add up to the whole protocol
    from loopml.stores.metadata.base import MetadataStore

    _IMPLEMENTS: type[MetadataStore] = SqlMetadataStore
