"""The :class:`LoopStore` protocol: deployments, leases, decisions and states (small JSON
documents the loop keeps between ticks), as the fewest primitives.

Every time (``started_at``, ``heartbeat_at``, ``expires_at``, a lease's expiry) is the store's
clock, never the caller's, so servers with skewed clocks agree on who is gone and who holds a
lease. Backends: :class:`~loopml.stores.loop.sql.SqlLoopStore` (SQLite, PostgreSQL) and
:class:`~loopml.stores.remote.loop.HttpLoopStore` (``loopml server``).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from loopml.core.entities import Page
from loopml.core.loop_records import (
    Decision,
    DecisionState,
    DecisionUpdate,
    Deployment,
    DeploymentState,
    Lease,
    NewDecision,
    NewDeployment,
)
from loopml.stores.metadata.base import NewEvent

DEFAULT_MAX_RESULTS = 100


@runtime_checkable
class LoopStore(Protocol):
    """Every mutation but a heartbeat or a lease renewal appends its event to the audit log
    in its own transaction, as the metadata store's do: ``event`` if given (a server's), else
    the store's own with the actor ``local:<os user>``; the remote store refuses ``event``."""

    def close(self) -> None: ...

    # deployments -------------------------------------------------------------------------
    def register_deployment(
        self, deployment: NewDeployment, *, event: NewEvent | None = None
    ) -> Deployment:
        """Record a model server as live, beating from now. The id is the caller's: the same
        registration sent again returns the stored deployment unchanged; the id registered
        with another model or address is a ConflictError."""
        ...

    def heartbeat_deployment(self, deployment_id: str, *, version: int | None = None) -> Deployment:
        """The server is alive now, serving ``version`` (None: unchanged). A gone deployment
        beats again (it was cut off, not dead) and is live; an ended one is a ConflictError."""
        ...

    def end_deployment(
        self, deployment_id: str, reason: str, *, event: NewEvent | None = None
    ) -> Deployment:
        """The server said goodbye (``reason``: "stopped", "failed: …"). Ending an ended
        deployment returns it unchanged."""
        ...

    def get_deployment(self, deployment_id: str) -> Deployment:
        """NotFoundError for an id no server registered."""
        ...

    def list_deployments(
        self,
        *,
        model: str | None = None,
        state: DeploymentState | None = None,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
    ) -> Page[Deployment]:
        """Deployments, newest first, of ``model`` and in ``state`` (None: any)."""
        ...

    def mark_gone_deployments(self, *, event: NewEvent | None = None) -> list[Deployment]:
        """Mark gone every live deployment whose heartbeat lapsed (``expires_at`` passed) and
        return them, once each: the caller closes what they left open (their runs)."""
        ...

    # leases ------------------------------------------------------------------------------
    def acquire_lease(
        self, name: str, holder: str, ttl_ms: int, *, event: NewEvent | None = None
    ) -> Lease | None:
        """Hold ``name`` for ``ttl_ms`` if nobody else holds it; None if another holder
        does. A new acquisition gets a larger token than any before it; the holder acquiring
        the lease it holds extends it and keeps its token."""
        ...

    def renew_lease(self, lease: Lease, ttl_ms: int) -> Lease:
        """Extend ``lease`` to ``ttl_ms`` from now; LeaseLostError if it expired or is held
        by someone else (or with another token) by now."""
        ...

    def release_lease(self, lease: Lease, *, event: NewEvent | None = None) -> None:
        """Let go of ``lease`` so another holder can take it at once; a no-op when it is no
        longer held by this holder and token."""
        ...

    def get_lease(self, name: str) -> Lease | None:
        """The unexpired lease on ``name``, None if nobody holds it."""
        ...

    # decisions ---------------------------------------------------------------------------
    def record_decision(
        self, decision: NewDecision, *, lease: Lease | None = None, event: NewEvent | None = None
    ) -> Decision:
        """Store ``decision`` as ``triggered``, or return the one stored under its key (the key
        is unique in the project, so a restarted or second agent gets the first one back). The
        key recorded for another model, alias or trigger is a ConflictError. With ``lease``,
        the write happens only while it is held (LeaseLostError otherwise): a fenced write."""
        ...

    def advance_decision(
        self,
        decision_id: str,
        update: DecisionUpdate,
        *,
        lease: Lease | None = None,
        event: NewEvent | None = None,
    ) -> Decision:
        """Move the decision from ``update.expected`` to ``update.state`` in one
        compare-and-set: StaleDecisionError (a ConflictError) if another writer moved it
        first, so only one of two racing writers advances it. Sending a move that already
        happened returns the decision unchanged. ``lease`` fences the write as above."""
        ...

    def get_decision(self, decision_id: str) -> Decision:
        """NotFoundError for an id no decision has."""
        ...

    def find_decision(self, key: str) -> Decision | None:
        """The decision recorded under ``key``, None if none is (yet)."""
        ...

    def list_decisions(
        self,
        *,
        model: str | None = None,
        states: tuple[DecisionState, ...] = (),
        since: int | None = None,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
    ) -> Page[Decision]:
        """Decisions, newest first, of ``model``, in one of ``states`` (empty: any), created at
        or after ``since`` (ms, store clock)."""
        ...

    # states ------------------------------------------------------------------------------
    def get_loop_state(self, name: str) -> dict[str, Any] | None:
        """The JSON document stored under ``name``, None if none is."""
        ...

    def put_loop_state(
        self,
        name: str,
        document: dict[str, Any],
        *,
        lease: Lease | None = None,
        event: NewEvent | None = None,
    ) -> None:
        """Store ``document`` under ``name`` (replacing what was there). With ``lease``, the
        write happens only while it is held (LeaseLostError otherwise): a fenced write."""
        ...
