"""What lineage queries and model cards read: the three stores, whoever holds them. A
:class:`~loopml.tracking.client.Client` is one; so are the stores a server's dashboard was
given (``loopml.dashboard``), which has no client of its own."""

from __future__ import annotations

from typing import Protocol

from loopml.stores.artifacts.base import ArtifactStore
from loopml.stores.loop.base import LoopStore
from loopml.stores.metadata.base import MetadataStore

__all__ = ["StoreReader"]


class StoreReader(Protocol):
    @property
    def metadata(self) -> MetadataStore: ...

    @property
    def artifacts(self) -> ArtifactStore: ...

    @property
    def loop(self) -> LoopStore: ...
