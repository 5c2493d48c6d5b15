"""Content-addressed artifact store interface (:class:`ArtifactStore`) and its backends."""

from loopml.stores.artifacts.base import ArtifactStore

__all__ = ["ArtifactStore"]
