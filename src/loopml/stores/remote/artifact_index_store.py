"""The artifact index slice of the remote metadata store: a run's artifact entries and its
lineage edges.
"""

from __future__ import annotations

from collections.abc import Sequence

from loopml.core.entities import ArtifactEdge, ArtifactEntry, ArtifactListing, Page
from loopml.core.errors import InvalidInputError
from loopml.core.validation import validate_artifact_edges
from loopml.stores.metadata.event_store import NewEvent
from loopml.stores.metadata.pages import DEFAULT_MAX_RESULTS
from loopml.stores.remote import wire
from loopml.stores.remote.http_slice import HttpSlice, page_params, segment


class HttpArtifactIndexStore(HttpSlice):
    """Artifact entries and lineage edges over ``/runs/{id}/artifacts`` and ``/artifact-edges``."""

    def add_artifacts(
        self, run_id: str, entries: Sequence[ArtifactEntry], *, event: NewEvent | None = None
    ) -> None:
        wire.refuse_event(event)
        body = {"entries": [{"path": e.path, "digest": e.digest, "size": e.size} for e in entries]}
        # recording the same entries twice leaves the same index
        self._api.request(
            "POST", f"/runs/{segment(run_id)}/artifacts", json_body=body, idempotent=True
        )

    def list_artifact_entries(self, run_id: str, prefix: str = "") -> list[ArtifactEntry]:
        data = self._api.request_json(
            "GET", f"/runs/{segment(run_id)}/artifacts", params={"prefix": prefix}
        )
        return [wire.artifact_entry_from_json(item) for item in wire.objects(data, "items")]

    def list_artifact_children(
        self,
        run_id: str,
        path: str = "",
        *,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
    ) -> Page[ArtifactListing]:
        params = {**page_params(max_results, page_token), "path": path}
        data = self._api.request_json(
            "GET", f"/runs/{segment(run_id)}/artifact-children", params=params
        )
        items = [wire.artifact_listing_from_json(item) for item in wire.objects(data, "items")]
        return Page(items, wire.page_token(data))

    # artifact lineage
    def add_artifact_edges(
        self, run_id: str, edges: Sequence[tuple[str, str, str]], *, event: NewEvent | None = None
    ) -> None:
        wire.refuse_event(event)
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInputError(f"The run id must be a non-empty string, got {run_id!r}.")
        # checked here too, with the stores' messages: what JSON cannot carry never leaves
        triples = validate_artifact_edges(edges)
        body = {"edges": [{"direction": d, "digest": g, "name": n} for d, g, n in triples]}
        # recording the same edges twice leaves the same edges
        self._api.request(
            "POST", f"/runs/{segment(run_id)}/artifact-edges", json_body=body, idempotent=True
        )

    def list_artifact_edges(
        self, *, run_id: str | None = None, digest: str | None = None
    ) -> list[ArtifactEdge]:
        params = {
            key: value
            for key, value in (("run_id", run_id), ("digest", digest))
            if value is not None
        }
        data = self._api.request_json("GET", "/artifact-edges", params=params)
        return [wire.artifact_edge_from_json(item) for item in wire.objects(data, "items")]
