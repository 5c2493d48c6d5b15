"""The metadata store interface: the fewest primitives the services need.

:class:`MetadataStore` is put together from one protocol per capability, each in a module of
its own: experiments (:mod:`.experiment_store`), runs with their params, metrics, tags,
batches, heartbeats and search (:mod:`.run_store`), the artifact index and lineage edges
(:mod:`.artifact_index_store`), datasets (:mod:`.dataset_store`), the model registry with its
gate results and approvals (:mod:`.model_store`) and the audit log (:mod:`.event_store`). A
function that needs one capability types against its slice; every backend (SQLite,
PostgreSQL, remote over HTTP) implements them all and passes the contract suite in
``tests/contract/`` (one ``*_checks.py`` per capability). Derived operations (log one metric,
set one tag) are written once on top of :meth:`RunStore.log_batch`.

Every mutation but a heartbeat appends its event to the audit log in its own transaction:
``event`` (``event_of``) if given (see :class:`NewEvent`), else the store's with the actor
``local:<os user>``; the remote client refuses ``event``, since the server records its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from loopml.stores.metadata.artifact_index_store import ArtifactIndexStore
from loopml.stores.metadata.dataset_store import DatasetStore
from loopml.stores.metadata.event_store import EventStore, NewEvent
from loopml.stores.metadata.experiment_store import ExperimentStore
from loopml.stores.metadata.model_store import ModelStore
from loopml.stores.metadata.pages import DEFAULT_MAX_RESULTS, MAX_RESULTS_LIMIT
from loopml.stores.metadata.run_store import EventOf, NewRun, RunQuery, RunStore

__all__ = [
    "DEFAULT_MAX_RESULTS",
    "MAX_RESULTS_LIMIT",
    "ArtifactIndexStore",
    "DatasetStore",
    "EventOf",
    "EventStore",
    "ExperimentStore",
    "MetadataStore",
    "ModelStore",
    "NewEvent",
    "NewRun",
    "ReferenceListingMetadataStore",
    "ReferencedDigests",
    "RunQuery",
    "RunStore",
]


class MetadataStore(
    ExperimentStore,
    RunStore,
    ArtifactIndexStore,
    DatasetStore,
    ModelStore,
    EventStore,
    Protocol,
):
    """Every capability's slice on one store: experiments, runs, the artifact index,
    datasets, the model registry and the event log."""

    uri: str

    def close(self) -> None: ...


@dataclass(frozen=True)
class ReferencedDigests:
    """The digests the metadata names: ``blobs`` are plain blobs; ``trees`` may be tree
    objects, whose entries are referenced too (a value that is not a tree is a plain blob)."""

    blobs: frozenset[str]
    trees: frozenset[str]


@runtime_checkable
class ReferenceListingMetadataStore(Protocol):
    """A store that can list every digest it references (what ``loopml gc`` needs); the
    remote client does not: garbage collection runs beside the stores, not over HTTP."""

    def list_referenced_digests(self) -> ReferencedDigests: ...
