"""What every request handler works with: the stores, passed down instead of held globally."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, cast

from fastapi import Depends, Request

from loopml.server.promotion_policy import ServerPolicy
from loopml.stores.artifacts.base import ArtifactStore
from loopml.stores.identity.base import IdentityStore
from loopml.stores.loop.base import LoopStore
from loopml.stores.metadata.base import MetadataStore


class ExperimentIds:
    """Experiment ids by name, as runs named them (``POST /runs`` with ``experiment_name``):
    experiments are never renamed or deleted, so a name once resolved stays valid, and a run
    start needs no lookup. Bounded: forgotten all at once when full."""

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._ids: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self._ids.get(name)

    def remember(self, name: str, experiment_id: str) -> None:
        if len(self._ids) >= self._limit:
            self._ids = {}
        self._ids[name] = experiment_id


@dataclass(frozen=True)
class ServerContext:
    """The stores one app serves; lives on ``app.state.context``."""

    metadata_store: MetadataStore
    artifact_store: ArtifactStore
    version: str
    # where uploads are spooled before they are stored; None: the system's (TMPDIR)
    spool_dir: Path | None = None
    experiment_ids: ExperimentIds = field(default_factory=ExperimentIds)
    # deployments and leases, on the metadata store's database; None: those routes answer 400
    loop_store: LoopStore | None = None
    # users, tokens and roles, on the metadata store's database; None: those routes answer 400
    identity_store: IdentityStore | None = None
    # what a move of a protected alias must satisfy (see promotion_policy.py)
    promotion: ServerPolicy = field(default_factory=lambda: ServerPolicy(None))


async def get_context(request: Request) -> ServerContext:
    return cast(ServerContext, request.app.state.context)


Context = Annotated[ServerContext, Depends(get_context)]
