"""What every request handler works with: the stores, passed down instead of held globally."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, cast

from fastapi import Depends, Request

from loopml.stores.artifacts.base import ArtifactStore
from loopml.stores.loop.base import LoopStore
from loopml.stores.metadata.base import MetadataStore


@dataclass(frozen=True)
class ServerContext:
    """The stores one app serves; lives on ``app.state.context``."""

    metadata_store: MetadataStore
    artifact_store: ArtifactStore
    version: str
    # where uploads are spooled before they are stored; None: the system's (TMPDIR)
    spool_dir: Path | None = None
    # deployments and leases, on the metadata store's database; None: those routes answer 400
    loop_store: LoopStore | None = None


async def get_context(request: Request) -> ServerContext:
    return cast(ServerContext, request.app.state.context)


Context = Annotated[ServerContext, Depends(get_context)]
