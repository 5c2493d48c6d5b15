"""The datasets slice of the remote metadata store: dataset versions and dataset inputs."""

from __future__ import annotations

from collections.abc import Sequence

from loopml.core.entities import DatasetInput, DatasetVersion, Page
from loopml.core.errors import InvalidInputError
from loopml.stores.metadata.event_store import NewEvent
from loopml.stores.metadata.pages import DEFAULT_MAX_RESULTS
from loopml.stores.remote import wire
from loopml.stores.remote.http_slice import HttpSlice, name_segment, page_params, segment


def _dataset_segment(name: object) -> str:
    return name_segment("dataset", name)


def _version_segment(dataset: str, version: object) -> str:
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidInputError(
            f"The version of dataset {dataset!r} must be a positive integer, got {version!r}."
        )
    return str(version)


def _input_json(item: object) -> dict[str, object]:
    if isinstance(item, str | bytes) or not isinstance(item, Sequence) or len(item) != 2:
        raise InvalidInputError(
            f"A dataset input must be a (dataset, version) pair, got {item!r:.80}."
        )
    return {"dataset": item[0], "version": item[1]}


class HttpDatasetStore(HttpSlice):
    """Dataset versions over ``/datasets`` and dataset inputs of runs."""

    def add_dataset_version(
        self, new: DatasetVersion, *, event: NewEvent | None = None
    ) -> tuple[DatasetVersion, bool]:
        wire.refuse_event(event)
        if not isinstance(new, DatasetVersion):
            raise InvalidInputError(f"Expected a DatasetVersion, got {new!r:.80}.")
        body = wire.entity_json(new)
        path = f"/datasets/{_dataset_segment(body.pop('dataset'))}/versions"
        del body["version"]  # assigned by the store
        data = self._api.request_json("POST", path, json_body=body)
        version = wire.dataset_version_from_json(wire.member(data, "version"))
        return version, wire.boolean(data, "added")

    def get_dataset_version(self, dataset: str, version: int | None = None) -> DatasetVersion:
        name = _dataset_segment(dataset)
        which = "latest" if version is None else _version_segment(dataset, version)
        data = self._api.request_json("GET", f"/datasets/{name}/versions/{which}")
        return wire.dataset_version_from_json(data)

    def list_dataset_versions(self, dataset: str | None = None) -> list[DatasetVersion]:
        path = "/datasets" if dataset is None else f"/datasets/{_dataset_segment(dataset)}/versions"
        data = self._api.request_json("GET", path)
        return [wire.dataset_version_from_json(item) for item in wire.objects(data, "items")]

    def page_dataset_versions(
        self,
        dataset: str | None = None,
        *,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
        newest_first: bool = False,
    ) -> Page[DatasetVersion]:
        path = "/datasets" if dataset is None else f"/datasets/{_dataset_segment(dataset)}/versions"
        params = dict(page_params(max_results, page_token))
        if newest_first and dataset is not None:
            params["newest_first"] = "true"
        data = self._api.request_json("GET", path, params=params)
        items = [wire.dataset_version_from_json(item) for item in wire.objects(data, "items")]
        return Page(items, wire.page_token(data))

    def delete_dataset_version(
        self, dataset: str, version: int | None = None, *, event: NewEvent | None = None
    ) -> None:
        wire.refuse_event(event)
        path = f"/datasets/{_dataset_segment(dataset)}"
        if version is not None:
            path += f"/versions/{_version_segment(dataset, version)}"
        # not idempotent: deleting again is "not found", which a retry must not report
        self._api.request("DELETE", path, idempotent=False)

    def add_dataset_inputs(
        self, run_id: str, inputs: Sequence[tuple[str, int]], *, event: NewEvent | None = None
    ) -> None:
        wire.refuse_event(event)
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInputError(f"The run id must be a non-empty string, got {run_id!r}.")
        if isinstance(inputs, str | bytes) or not isinstance(inputs, Sequence):
            raise InvalidInputError(
                f"Dataset inputs must be a list of (dataset, version) pairs, got {inputs!r:.80}."
            )
        body = {"inputs": [_input_json(item) for item in inputs]}
        # recording the same edges twice leaves the same edges
        self._api.request(
            "POST", f"/runs/{segment(run_id)}/dataset-inputs", json_body=body, idempotent=True
        )

    def list_dataset_inputs(
        self, *, run_id: str | None = None, dataset: str | None = None
    ) -> list[DatasetInput]:
        params = {
            key: value
            for key, value in (("run_id", run_id), ("dataset", dataset))
            if value is not None
        }
        data = self._api.request_json("GET", "/dataset-inputs", params=params)
        return [wire.dataset_input_from_json(item) for item in wire.objects(data, "items")]
