"""The experiments slice of the remote metadata store."""

from __future__ import annotations

from collections.abc import Mapping

from loopml.core.entities import Experiment, Page
from loopml.core.errors import NotFoundError
from loopml.stores.metadata.event_store import NewEvent
from loopml.stores.metadata.pages import DEFAULT_MAX_RESULTS
from loopml.stores.remote import wire
from loopml.stores.remote.http_slice import HttpSlice, page_params, segment


class HttpExperimentStore(HttpSlice):
    """Experiments over ``/experiments``."""

    def create_experiment(
        self, name: str, tags: Mapping[str, str] | None = None, *, event: NewEvent | None = None
    ) -> Experiment:
        wire.refuse_event(event)
        body = {"name": name, "tags": None if tags is None else dict(tags)}
        return wire.experiment_from_json(
            self._api.request_json("POST", "/experiments", json_body=body)
        )

    def get_experiment(self, experiment_id: str) -> Experiment:
        data = self._api.request_json("GET", f"/experiments/{segment(experiment_id)}")
        return wire.experiment_from_json(data)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            data = self._api.request_json("GET", "/experiments/by-name", params={"name": name})
        except NotFoundError:
            return None
        return wire.experiment_from_json(data)

    def list_experiments(
        self, *, max_results: int = DEFAULT_MAX_RESULTS, page_token: str | None = None
    ) -> Page[Experiment]:
        data = self._api.request_json(
            "GET", "/experiments", params=page_params(max_results, page_token)
        )
        items = [wire.experiment_from_json(item) for item in wire.objects(data, "items")]
        return Page(items, wire.page_token(data))
