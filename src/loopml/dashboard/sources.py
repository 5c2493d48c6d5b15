"""What the dashboard's pages read from: the stores the server (or ``loopml ui``) opened.

The caller owns the stores and closes them. A store a caller does not have is None, and the
pages that need it say so instead of failing (a project without deployments has no loop
store to show, and ``loopml ui`` has no identity store: it asks nobody for a token).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loopml.core.roles import Permission
from loopml.stores.artifacts.base import ArtifactStore
from loopml.stores.identity.base import IdentityStore
from loopml.stores.loop.base import LoopStore
from loopml.stores.metadata.base import MetadataStore

__all__ = ["DashboardSources", "Guarded"]

# what a page module gets to guard its routes: permission -> the route's dependencies
Guarded = Callable[[Permission], list[Any]]


@dataclass(frozen=True)
class DashboardSources:
    metadata: MetadataStore
    artifacts: ArtifactStore | None = None
    loop: LoopStore | None = None
    identity: IdentityStore | None = None
