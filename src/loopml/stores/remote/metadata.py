"""The metadata store over HTTP: every :class:`MetadataStore` primitive is one API call.

The server runs the same checks as the embedded store and reports errors by code, so a
remote caller sees the same error classes (``NotFoundError``, ``ConflictError``…). The store
is put together from one slice per capability, each in the module named as the protocol it
implements (:mod:`.experiment_store`, :mod:`.run_store`, :mod:`.artifact_index_store`,
:mod:`.dataset_store`, :mod:`.model_store`, :mod:`.event_store`), on one API client.

>>> store = HttpMetadataStore("http://127.0.0.1:5000")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml.core.redaction import redact_uri
from loopml.stores.remote.artifact_index_store import HttpArtifactIndexStore
from loopml.stores.remote.dataset_store import HttpDatasetStore
from loopml.stores.remote.event_store import HttpEventStore
from loopml.stores.remote.experiment_store import HttpExperimentStore
from loopml.stores.remote.http import ApiClient
from loopml.stores.remote.model_store import HttpModelStore
from loopml.stores.remote.run_store import HttpRunStore


class HttpMetadataStore(
    HttpExperimentStore,
    HttpRunStore,
    HttpArtifactIndexStore,
    HttpDatasetStore,
    HttpModelStore,
    HttpEventStore,
):
    """A :class:`MetadataStore` that talks to ``loopml server`` at ``uri``."""

    def __init__(self, uri: str, *, token: str | None = None) -> None:
        self.uri = uri
        self._api = ApiClient(uri, token=token)

    def __repr__(self) -> str:
        return f"HttpMetadataStore({redact_uri(self.uri)!r})"

    def close(self) -> None:
        self._api.close()


if TYPE_CHECKING:  # mypy checks that the slices add up to the whole protocol
    from loopml.stores.metadata.base import MetadataStore

    _IMPLEMENTS: type[MetadataStore] = HttpMetadataStore
