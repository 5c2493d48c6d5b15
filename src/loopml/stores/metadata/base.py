"""The metadata store interface: the fewest primitives the services need.

Every backend (SQLite, PostgreSQL, remote over HTTP) implements exactly this and passes the
contract suite in ``tests/contract/test_metadata_store.py``. Derived operations (log one
metric, set one tag) are written once on top of :meth:`MetadataStore.log_batch`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from loopml.core.entities import (
    AliasChange,
    ArtifactEdge,
    ArtifactEntry,
    DatasetInput,
    DatasetVersion,
    Event,
    Experiment,
    GateResult,
    Metric,
    ModelApproval,
    ModelVersion,
    Page,
    Param,
    RegisteredModel,
    Run,
    RunStatus,
    Tag,
)
from loopml.core.query_limits import MAX_RESULTS_LIMIT as MAX_RESULTS_LIMIT

DEFAULT_MAX_RESULTS = 1000


@dataclass(frozen=True)
class NewRun:
    """What a new run starts with. ``run_id`` may be preset (idempotent retries).

    The experiment is named by its id, or by ``experiment_name`` (with ``experiment_id``
    None): the experiment of that name, created if there is none yet (see
    :func:`~loopml.stores.metadata.experiment_names.run_experiment`).
    """

    experiment_id: str | None
    name: str
    start_time: int
    parent_run_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    run_id: str | None = None
    experiment_name: str | None = None


@dataclass(frozen=True)
class NewEvent:
    """An event to append to the log in the same transaction as the change it records (the
    store numbers and times it): a crash cannot keep the change and lose its event, and a
    write that changes nothing (a retried create, a batch stored before) appends none.

    ``actor`` is the server's principal, never a name a client sent; ``request_id`` the
    server request that made the change. ``before``/``after`` are states of the target
    around the change (JSON values), recorded as digests; the store fills those it knows.
    A store write given no event appends its own, with the actor ``local:<os user>``."""

    actor: str
    action: str
    target: str
    payload: Mapping[str, object] = field(default_factory=dict)
    request_id: str = ""
    before: object = None
    after: object = None


EventOf = Callable[[Run], NewEvent]
"""The event of one run a write changed, for writes that find their runs themselves."""


@dataclass(frozen=True)
class RunQuery:
    """A run search. ``filter`` uses the language of :mod:`loopml.core.filters`."""

    experiment_ids: Sequence[str] = ()
    filter: str | None = None
    order_by: Sequence[str] = ()
    max_results: int = DEFAULT_MAX_RESULTS
    page_token: str | None = None
    parent_run_id: str | None = None


class MetadataStore(Protocol):
    """Experiments, runs, params, metrics, tags, artifact index and the event log."""

    uri: str

    # experiments
    def create_experiment(
        self,
        name: str,
        tags: Mapping[str, str] | None = None,
        *,
        event: NewEvent | None = None,
    ) -> Experiment:
        """Create an experiment; :class:`AlreadyExistsError` if the name is taken."""
        ...

    def get_experiment(self, experiment_id: str) -> Experiment:
        """:class:`NotFoundError` if there is no such experiment."""
        ...

    def get_experiment_by_name(self, name: str) -> Experiment | None: ...

    def list_experiments(
        self, *, max_results: int = DEFAULT_MAX_RESULTS, page_token: str | None = None
    ) -> Page[Experiment]:
        """Experiments ordered by creation time, oldest first."""
        ...

    # every mutation but a heartbeat appends its event to the audit log in its own
    # transaction: ``event`` (``event_of``) if given (see :class:`NewEvent`), else the
    # store's with the actor ``local:<os user>``; the remote client refuses ``event``,
    # since the server records its own
    def create_run(self, new_run: NewRun, *, event: NewEvent | None = None) -> Run:
        """Insert a RUNNING run. Unknown experiment or parent → :class:`NotFoundError`. A
        preset ``run_id`` the store has in the same experiment returns that run (a retried
        create), without ``event``."""
        ...

    def get_run(self, run_id: str) -> Run: ...

    def set_run_status(
        self,
        run_id: str,
        status: RunStatus,
        end_time: int | None,
        *,
        event: NewEvent | None = None,
    ) -> None:
        """Move a run to ``status``; ``end_time`` is set for terminal states (now if None)
        and cleared for RUNNING."""
        ...

    def delete_run(self, run_id: str, *, event: NewEvent | None = None) -> None:
        """Delete a run and everything logged to it, including its child runs."""
        ...

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[Tag] = (),
        batch_id: str | None = None,
        event: NewEvent | None = None,
    ) -> None:
        """Write all or nothing. A param re-set to a different value → :class:`ConflictError`
        naming both values; the same value again is a no-op. Tags overwrite. ``batch_id``
        (1-64 letters, digits, ``_``, ``-``), recorded in the same transaction, makes the
        write idempotent: a batch id the run already has is a no-op success, so a client
        may send a batch again when its answer was lost (and ``event`` is not appended
        again). Also marks a RUNNING run alive
        (see :meth:`heartbeat_run`)."""
        ...

    def heartbeat_run(self, run_id: str) -> None:
        """Mark a RUNNING run alive now (``Run.heartbeat_at``, the store's clock); an ended
        run is left as it is. Unknown run → :class:`NotFoundError`."""
        ...

    def close_lapsed_runs(
        self, lapsed_for_ms: int, *, dry_run: bool = False, event_of: EventOf | None = None
    ) -> list[Run]:
        """End as KILLED, with the last heartbeat as end time, every RUNNING run whose
        heartbeat is older than ``lapsed_for_ms`` (its process died without ending it), and
        return them as closed, ordered by id; ``dry_run`` only lists them. Runs that never
        had a heartbeat (logged before heartbeats existed) are left alone. ``event_of`` gives
        the event of each run closed."""
        ...

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every value logged for ``key``, ordered by step then timestamp."""
        ...

    def search_runs(self, query: RunQuery) -> Page[Run]:
        """Runs matching ``query``; default order: newest start_time first."""
        ...

    # artifacts index (the bytes live in an ArtifactStore)
    def add_artifacts(
        self, run_id: str, entries: Sequence[ArtifactEntry], *, event: NewEvent | None = None
    ) -> None:
        """Record files logged to a run; a path logged again points at the new content."""
        ...

    def list_artifact_entries(self, run_id: str, prefix: str = "") -> list[ArtifactEntry]:
        """Every file recorded for the run whose path is ``prefix`` or lies under it."""
        ...

    # datasets (the bytes are tree objects in an ArtifactStore)
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

    # model registry (the files are tree objects in an ArtifactStore)
    def add_model_version(
        self, new: ModelVersion, *, event: NewEvent | None = None
    ) -> ModelVersion:
        """Record the next version of model ``new.model`` (created on first use; the
        ``version`` field of ``new`` is ignored and assigned here, 1, 2, …; numbers are never
        reused, and concurrent adders never get the same one). Bad input →
        :class:`InvalidInputError` naming the field; an unknown ``run_id`` →
        :class:`NotFoundError`; nothing is written then."""
        ...

    def get_model_version(self, model: str, version: int | None = None) -> ModelVersion:
        """Version ``version`` of ``model`` (None: the newest); :class:`NotFoundError` names
        the model and version, and lists the versions that exist."""
        ...

    def list_model_versions(self, model: str) -> list[ModelVersion]:
        """Every version of ``model``, oldest first."""
        ...

    def get_registered_model(self, name: str) -> RegisteredModel: ...

    def list_registered_models(self) -> list[RegisteredModel]:
        """Every registered model, ordered by name."""
        ...

    def set_model_alias(
        self,
        model: str,
        alias: str,
        version: int | None,
        *,
        actor: str | None = None,
        reason: str = "",
        event: NewEvent | None = None,
    ) -> AliasChange:
        """Point ``alias`` at ``version`` (None: remove it) and record the move in the alias
        history, in one transaction. The same version again records nothing and returns the
        change with ``from_version == to_version``. An unknown version, or removing an alias
        that is not set → :class:`NotFoundError`; a bad alias name (``latest`` is reserved)
        → :class:`InvalidInputError`."""
        ...

    def get_model_alias(self, model: str, alias: str) -> int:
        """The version ``alias`` points at; :class:`NotFoundError` lists the model's aliases."""
        ...

    def list_alias_history(self, model: str, alias: str | None = None) -> list[AliasChange]:
        """Every move of ``alias`` (or of every alias of ``model``), oldest first."""
        ...

    def set_model_version_tag(
        self, model: str, version: int, key: str, value: str, *, event: NewEvent | None = None
    ) -> None:
        """Set (or overwrite) one tag of a version."""
        ...

    def delete_model_version(
        self, model: str, version: int, *, event: NewEvent | None = None
    ) -> None:
        """Delete one version with its gate results and approvals, in one transaction (its
        number is never handed out again); refused with :class:`ConflictError`, naming the
        aliases, while an alias points at it."""
        ...

    # gate results and approvals of model versions (what promotion checks)
    def add_gate_result(self, result: GateResult, *, event: NewEvent | None = None) -> GateResult:
        """Store ``result`` with its version and return it as stored (``actor`` as given).
        ``result.id`` is the caller's: 32 lowercase hex characters (``new_id()``); an id
        already stored → :class:`ConflictError`. An unknown model or version →
        :class:`NotFoundError` naming them; a bad field (``checks`` must be JSON objects, may
        be empty; ``policy`` a JSON object; ``policy_digest`` ``sha256:<64 hex>``; ``dataset``
        at most 255 characters) → :class:`InvalidInputError` naming it; nothing is written
        then."""
        ...

    def list_gate_results(self, model: str, version: int | None = None) -> list[GateResult]:
        """The gate results of ``version`` (None: of every version of ``model``), oldest first
        (by ``evaluated_at``, then id). An unknown model or version → :class:`NotFoundError`."""
        ...

    def add_model_approval(
        self,
        model: str,
        version: int,
        *,
        actor: str | None = None,
        comment: str = "",
        event: NewEvent | None = None,
    ) -> ModelApproval:
        """Record an approval of ``version`` for promotion, timed by the store. An unknown
        model or version → :class:`NotFoundError`; a comment over 2000 characters →
        :class:`InvalidInputError`."""
        ...

    def list_model_approvals(self, model: str, version: int | None = None) -> list[ModelApproval]:
        """The approvals of ``version`` (None: of every version of ``model``), oldest first.
        An unknown model or version → :class:`NotFoundError`."""
        ...

    # the audit log: a hash chain (see loopml.core.audit_chain)
    def append_event(
        self,
        *,
        actor: str,
        action: str,
        target: str,
        payload: Mapping[str, object],
        request_id: str = "",
    ) -> Event:
        """Append an event that records no change of this store (a client's note, a blob
        stored beside it) in a transaction of its own."""
        ...

    def list_events(
        self, *, max_results: int = DEFAULT_MAX_RESULTS, page_token: str | None = None
    ) -> Page[Event]:
        """Events in the order they were appended (by position, ``Event.seq``)."""
        ...

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
