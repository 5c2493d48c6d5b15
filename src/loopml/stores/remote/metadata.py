"""The metadata store over HTTP: every :class:`MetadataStore` primitive is one API call.

The server runs the same checks as the embedded store and reports errors by code, so a
remote caller sees the same error classes (``NotFoundError``, ``ConflictError``…).

>>> store = HttpMetadataStore("http://127.0.0.1:5000")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import quote

from loopml.core.entities import (
    AliasChange,
    ArtifactEdge,
    ArtifactEntry,
    DatasetInput,
    DatasetVersion,
    Event,
    Experiment,
    GateResult,
    Metric,
    ModelApproval,
    ModelVersion,
    Page,
    Param,
    RegisteredModel,
    Run,
    RunStatus,
    Tag,
)
from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.core.gate_validation import check_comment, validate_gate_result
from loopml.core.model_validation import (
    check_alias_name,
    check_model_name,
    check_model_version,
    check_reason,
    split_forced,
    validate_model_version,
)
from loopml.core.redaction import redact_uri
from loopml.core.validation import (
    validate_artifact_edges,
    validate_key,
    validate_metric_value,
    validate_name,
)
from loopml.stores.metadata.base import (
    DEFAULT_MAX_RESULTS,
    EventOf,
    NewEvent,
    NewRun,
    RunQuery,
)
from loopml.stores.remote import wire
from loopml.stores.remote.http import ApiClient, Params

_RETURN_MINIMAL = {"Prefer": "return=minimal"}


def _segment(value: str) -> str:
    """One path segment, with ``/`` and every other reserved character escaped."""
    return quote(str(value), safe="")


def _page_params(max_results: int, page_token: str | None) -> Params:
    params: dict[str, str | int] = {"max_results": max_results}
    if page_token is not None:
        params["page_token"] = page_token
    return params


def _dataset_segment(name: object) -> str:
    return _name_segment("dataset", name)


def _name_segment(kind: str, name: object) -> str:
    """A dataset or model name as a path segment; what no segment can carry is refused here
    with the store's message (the server checks the rest)."""
    text = validate_name(kind, name)
    if "/" in text:
        raise InvalidInputError(
            f"The {kind} name {text!r} contains characters that are not allowed; use only "
            "letters, digits and _ - . (no '@', '/' or whitespace)."
        )
    return _dotless_segment(text)


def _dotless_segment(text: str) -> str:
    # "." and ".." would be dot segments, which URL normalisation removes
    return _segment(text).replace(".", "%2E")


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


def _metric_json(metric: Metric) -> dict[str, object]:
    value = validate_metric_value(metric.key, metric.value)
    return {
        "key": metric.key,
        "value": wire.encode_float(value),
        "step": metric.step,
        "timestamp": metric.timestamp,
    }


class HttpMetadataStore:
    """A :class:`MetadataStore` that talks to ``loopml server`` at ``uri``."""

    def __init__(self, uri: str, *, token: str | None = None) -> None:
        self.uri = uri
        self._api = ApiClient(uri, token=token)

    def __repr__(self) -> str:
        return f"HttpMetadataStore({redact_uri(self.uri)!r})"

    # experiments
    def create_experiment(
        self, name: str, tags: Mapping[str, str] | None = None, *, event: NewEvent | None = None
    ) -> Experiment:
        _refuse_event(event)
        body = {"name": name, "tags": None if tags is None else dict(tags)}
        return wire.experiment_from_json(
            self._api.request_json("POST", "/experiments", json_body=body)
        )

    def get_experiment(self, experiment_id: str) -> Experiment:
        data = self._api.request_json("GET", f"/experiments/{_segment(experiment_id)}")
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
            "GET", "/experiments", params=_page_params(max_results, page_token)
        )
        items = [wire.experiment_from_json(item) for item in wire.objects(data, "items")]
        return Page(items, wire.page_token(data))

    # runs
    def create_run(self, new_run: NewRun, *, event: NewEvent | None = None) -> Run:
        _refuse_event(event)
        body = {
            "experiment_id": new_run.experiment_id,
            "name": new_run.name,
            "start_time": new_run.start_time,
            "parent_run_id": new_run.parent_run_id,
            "tags": dict(new_run.tags),
            "run_id": new_run.run_id,
        }
        if new_run.experiment_name is not None:  # resolved (or created) by the server
            body["experiment_name"] = new_run.experiment_name
        # with a preset id a repeated request cannot create a second run
        data = self._api.request_json(
            "POST", "/runs", json_body=body, idempotent=new_run.run_id is not None
        )
        return wire.run_from_json(data)

    def get_run(self, run_id: str) -> Run:
        return wire.run_from_json(self._api.request_json("GET", f"/runs/{_segment(run_id)}"))

    def set_run_status(
        self,
        run_id: str,
        status: RunStatus,
        end_time: int | None,
        *,
        event: NewEvent | None = None,
    ) -> None:
        _refuse_event(event)
        body = {"status": str(status), "end_time": end_time}
        # the run is not read back: 204 from a server that knows Prefer, the run from one before
        self._api.request(
            "PUT", f"/runs/{_segment(run_id)}/status", json_body=body, headers=_RETURN_MINIMAL
        )

    def delete_run(self, run_id: str, *, event: NewEvent | None = None) -> None:
        _refuse_event(event)
        self._api.request("DELETE", f"/runs/{_segment(run_id)}")

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[Tag] = (),
        batch_id: str | None = None,
        event: NewEvent | None = None,
    ) -> None:
        _refuse_event(event)
        body: dict[str, object] = {
            "metrics": [_metric_json(metric) for metric in metrics],
            "params": [{"key": p.key, "value": p.value} for p in params],
            "tags": [{"key": t.key, "value": t.value} for t in tags],
        }
        if batch_id is not None:
            body["batch_id"] = batch_id
        # with a batch id the server stores a repeated request once: safe to send again
        self._api.request(
            "POST",
            f"/runs/{_segment(run_id)}/batch",
            json_body=body,
            idempotent=batch_id is not None,
        )

    def heartbeat_run(self, run_id: str) -> None:
        self._api.request("PUT", f"/runs/{_segment(run_id)}/heartbeat")

    def close_lapsed_runs(
        self, lapsed_for_ms: int, *, dry_run: bool = False, event_of: EventOf | None = None
    ) -> list[Run]:
        _refuse_event(event_of)
        body = {"lapsed_for_ms": lapsed_for_ms, "dry_run": dry_run}
        data = self._api.request_json("POST", "/runs/close-lapsed", json_body=body)
        return [wire.run_from_json(item) for item in wire.objects(data, "items")]

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        data = self._api.request_json(
            "GET", f"/runs/{_segment(run_id)}/metric-history", params={"key": key}
        )
        return [wire.metric_from_json(item) for item in wire.objects(data, "items")]

    def search_runs(self, query: RunQuery) -> Page[Run]:
        body = {
            "experiment_ids": list(query.experiment_ids),
            "filter": query.filter,
            "order_by": list(query.order_by),
            "max_results": query.max_results,
            "page_token": query.page_token,
            "parent_run_id": query.parent_run_id,
        }
        data = self._api.request_json("POST", "/runs/search", json_body=body, idempotent=True)
        items = [wire.run_from_json(item) for item in wire.objects(data, "items")]
        return Page(items, wire.page_token(data))

    # artifacts index
    def add_artifacts(
        self, run_id: str, entries: Sequence[ArtifactEntry], *, event: NewEvent | None = None
    ) -> None:
        _refuse_event(event)
        body = {"entries": [{"path": e.path, "digest": e.digest, "size": e.size} for e in entries]}
        # recording the same entries twice leaves the same index
        self._api.request(
            "POST", f"/runs/{_segment(run_id)}/artifacts", json_body=body, idempotent=True
        )

    def list_artifact_entries(self, run_id: str, prefix: str = "") -> list[ArtifactEntry]:
        data = self._api.request_json(
            "GET", f"/runs/{_segment(run_id)}/artifacts", params={"prefix": prefix}
        )
        return [wire.artifact_entry_from_json(item) for item in wire.objects(data, "items")]

    # datasets
    def add_dataset_version(
        self, new: DatasetVersion, *, event: NewEvent | None = None
    ) -> tuple[DatasetVersion, bool]:
        _refuse_event(event)
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

    def delete_dataset_version(
        self, dataset: str, version: int | None = None, *, event: NewEvent | None = None
    ) -> None:
        _refuse_event(event)
        path = f"/datasets/{_dataset_segment(dataset)}"
        if version is not None:
            path += f"/versions/{_version_segment(dataset, version)}"
        # not idempotent: deleting again is "not found", which a retry must not report
        self._api.request("DELETE", path, idempotent=False)

    def add_dataset_inputs(
        self, run_id: str, inputs: Sequence[tuple[str, int]], *, event: NewEvent | None = None
    ) -> None:
        _refuse_event(event)
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInputError(f"The run id must be a non-empty string, got {run_id!r}.")
        if isinstance(inputs, str | bytes) or not isinstance(inputs, Sequence):
            raise InvalidInputError(
                f"Dataset inputs must be a list of (dataset, version) pairs, got {inputs!r:.80}."
            )
        body = {"inputs": [_input_json(item) for item in inputs]}
        # recording the same edges twice leaves the same edges
        self._api.request(
            "POST", f"/runs/{_segment(run_id)}/dataset-inputs", json_body=body, idempotent=True
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

    # artifact lineage
    def add_artifact_edges(
        self, run_id: str, edges: Sequence[tuple[str, str, str]], *, event: NewEvent | None = None
    ) -> None:
        _refuse_event(event)
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInputError(f"The run id must be a non-empty string, got {run_id!r}.")
        # checked here too, with the stores' messages: what JSON cannot carry never leaves
        triples = validate_artifact_edges(edges)
        body = {"edges": [{"direction": d, "digest": g, "name": n} for d, g, n in triples]}
        # recording the same edges twice leaves the same edges
        self._api.request(
            "POST", f"/runs/{_segment(run_id)}/artifact-edges", json_body=body, idempotent=True
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

    # model registry
    def add_model_version(
        self, new: ModelVersion, *, event: NewEvent | None = None
    ) -> ModelVersion:
        _refuse_event(event)
        # checked here too: what JSON cannot carry (NaN metrics) fails with the store's message
        spec = validate_model_version(new)
        body = wire.model_version_json(spec)
        path = f"/models/{_name_segment('model', body.pop('model'))}/versions"
        del body["version"]  # assigned by the store
        return wire.model_version_from_json(self._api.request_json("POST", path, json_body=body))

    def get_model_version(self, model: str, version: int | None = None) -> ModelVersion:
        which = "latest" if version is None else str(check_model_version(model, version))
        data = self._api.request_json("GET", f"{self._model_path(model)}/versions/{which}")
        return wire.model_version_from_json(data)

    def list_model_versions(self, model: str) -> list[ModelVersion]:
        data = self._api.request_json("GET", f"{self._model_path(model)}/versions")
        return [wire.model_version_from_json(item) for item in wire.objects(data, "items")]

    def get_registered_model(self, name: str) -> RegisteredModel:
        data = self._api.request_json("GET", self._model_path(name))
        return wire.registered_model_from_json(data)

    def list_registered_models(self) -> list[RegisteredModel]:
        data = self._api.request_json("GET", "/models")
        return [wire.registered_model_from_json(item) for item in wire.objects(data, "items")]

    def set_model_alias(
        self,
        model: str,
        alias: str,
        version: int | None,
        *,
        actor: str | None = None,
        reason: str = "",
        event: NewEvent | None = None,
    ) -> AliasChange:
        """As the embedded store; the server records its authenticated caller as the actor,
        so ``actor`` is not sent."""
        _refuse_event(event)
        del actor  # the server knows who is calling
        path = self._alias_path(model, alias)
        reason = check_reason(reason)
        if version is None:
            # not idempotent: removing again is "not found", which a retry must not report
            data = self._api.request_json(
                "DELETE", path, params={"reason": reason}, idempotent=False
            )
        else:
            # a forced move (the library's promote --force) is named as such: the server
            # checks the move against its promotion policy unless it is forced
            forced, note = split_forced(reason)
            body: dict[str, object] = {"version": check_model_version(model, version)}
            body |= {"reason": note, "force": True} if forced else {"reason": reason}
            data = self._api.request_json("PUT", path, json_body=body)
        return wire.alias_change_from_json(data)

    def get_model_alias(self, model: str, alias: str) -> int:
        data = self._api.request_json("GET", self._alias_path(model, alias))
        return wire.integer(data, "version")

    def list_alias_history(self, model: str, alias: str | None = None) -> list[AliasChange]:
        params = {} if alias is None else {"alias": check_alias_name(alias)}
        data = self._api.request_json(
            "GET", f"{self._model_path(model)}/alias-history", params=params
        )
        return [wire.alias_change_from_json(item) for item in wire.objects(data, "items")]

    def set_model_version_tag(
        self, model: str, version: int, key: str, value: str, *, event: NewEvent | None = None
    ) -> None:
        _refuse_event(event)
        # checked here: a key with a line break cannot be a path segment the server routes
        key = validate_key("tag", key)
        number = check_model_version(model, version)
        path = f"{self._model_path(model)}/versions/{number}/tags/{_dotless_segment(key)}"
        self._api.request("PUT", path, json_body={"value": value})

    def delete_model_version(
        self, model: str, version: int, *, event: NewEvent | None = None
    ) -> None:
        _refuse_event(event)
        number = check_model_version(model, version)
        # not idempotent: deleting again is "not found", which a retry must not report
        self._api.request(
            "DELETE", f"{self._model_path(model)}/versions/{number}", idempotent=False
        )

    def add_gate_result(self, result: GateResult, *, event: NewEvent | None = None) -> GateResult:
        """As the embedded store; the server records its authenticated caller as the actor,
        so ``result.actor`` is not sent."""
        _refuse_event(event)
        spec = validate_gate_result(result)  # checked here too: JSON carries no NaN
        body = wire.gate_result_json(spec)
        for decided_there in ("model", "version", "actor"):
            del body[decided_there]
        path = f"{self._version_path(spec.model, spec.version)}/gate-results"
        # not idempotent: a retried add whose first try was stored would be a conflict
        return wire.gate_result_from_json(self._api.request_json("POST", path, json_body=body))

    def list_gate_results(self, model: str, version: int | None = None) -> list[GateResult]:
        path = self._model_path(model) if version is None else self._version_path(model, version)
        data = self._api.request_json("GET", f"{path}/gate-results")
        return [wire.gate_result_from_json(item) for item in wire.objects(data, "items")]

    def add_model_approval(
        self,
        model: str,
        version: int,
        *,
        actor: str | None = None,
        comment: str = "",
        event: NewEvent | None = None,
    ) -> ModelApproval:
        """As the embedded store; the server records its authenticated caller as the approver,
        so ``actor`` is ignored (not sent)."""
        _refuse_event(event)
        del actor  # the server knows who is calling
        path = f"{self._version_path(model, version)}/approvals"
        data = self._api.request_json("POST", path, json_body={"comment": check_comment(comment)})
        return wire.model_approval_from_json(data)

    def list_model_approvals(self, model: str, version: int | None = None) -> list[ModelApproval]:
        path = self._model_path(model) if version is None else self._version_path(model, version)
        data = self._api.request_json("GET", f"{path}/approvals")
        return [wire.model_approval_from_json(item) for item in wire.objects(data, "items")]

    def _model_path(self, model: object) -> str:
        return f"/models/{_name_segment('model', check_model_name(model))}"

    def _version_path(self, model: object, version: object) -> str:
        name = check_model_name(model)
        return f"{self._model_path(name)}/versions/{check_model_version(name, version)}"

    def _alias_path(self, model: object, alias: object) -> str:
        return f"{self._model_path(model)}/aliases/{_segment(check_alias_name(alias))}"

    # event log
    def append_event(
        self,
        *,
        actor: str,
        action: str,
        target: str,
        payload: Mapping[str, object],
        request_id: str = "",
    ) -> Event:
        """As the embedded store; the server records its authenticated caller as the actor
        (``actor`` is kept as a claim) and names the request itself (``request_id`` unused)."""
        del request_id
        body = {"actor": actor, "action": action, "target": target, "payload": dict(payload)}
        return wire.event_from_json(self._api.request_json("POST", "/events", json_body=body))

    def list_events(
        self, *, max_results: int = DEFAULT_MAX_RESULTS, page_token: str | None = None
    ) -> Page[Event]:
        data = self._api.request_json(
            "GET", "/events", params=_page_params(max_results, page_token)
        )
        items = [wire.event_from_json(item) for item in wire.objects(data, "items")]
        return Page(items, wire.page_token(data))

    def close(self) -> None:
        self._api.close()


def _refuse_event(event: object) -> None:
    wire.refuse_event(event)
