"""Metadata store interface (:class:`MetadataStore`) and its backends."""

from loopml.stores.metadata.base import MetadataStore, NewRun, RunQuery

__all__ = ["MetadataStore", "NewRun", "RunQuery"]
