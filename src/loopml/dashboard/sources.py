"""What the dashboard's pages read from: the stores the server (or ``loopml ui``) opened.

The caller owns the stores and closes them. A store a caller does not have is None, and the
pages that need it say so instead of failing (a project without deployments has no loop
store to show, and ``loopml ui`` has no identity store: it asks nobody for a token).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import Request

from loopml.core.entities import AliasChange, ModelApproval
from loopml.core.roles import Permission
from loopml.stores.artifacts.base import ArtifactStore
from loopml.stores.identity.base import IdentityStore
from loopml.stores.loop.base import LoopStore
from loopml.stores.metadata.base import MetadataStore

__all__ = ["DashboardSources", "Guarded", "RegistryActions"]

# what a page module gets to guard its routes: permission -> the route's dependencies
Guarded = Callable[[Permission], list[Any]]


class RegistryActions(Protocol):
    """How the dashboard's buttons move an alias and approve a version, for the caller of
    ``request``: the platform server passes the code its own API routes run (its promotion
    policy, the signed-in user as the actor, the audit event), ``loopml ui`` the library's
    ``promote``/``approve`` over the project's store — so each client is held to one rule.
    A refused move raises the error the API would (409 ``PromotionBlockedError``, …)."""

    def move_alias(
        self, request: Request, move: tuple[str, str, int], *, reason: str, force: bool
    ) -> AliasChange:
        """Point ``move`` = (model, alias, version)."""
        ...

    def approve(self, request: Request, model: str, version: int, *, comment: str) -> ModelApproval:
        """Record the caller's approval of ``model@version``."""
        ...


@dataclass(frozen=True)
class DashboardSources:
    metadata: MetadataStore
    artifacts: ArtifactStore | None = None
    loop: LoopStore | None = None
    identity: IdentityStore | None = None
    # None: the pages only read (no promote, approve or rollback buttons)
    registry: RegistryActions | None = None
