"""The model registry slice of the remote metadata store: versions, aliases, version tags,
gate results and approvals.
"""

from __future__ import annotations

from loopml.core.entities import (
    AliasChange,
    GateResult,
    ModelApproval,
    ModelVersion,
    Page,
    RegisteredModel,
)
from loopml.core.gate_validation import check_comment, validate_gate_result
from loopml.core.model_validation import (
    check_alias_name,
    check_model_name,
    check_model_version,
    check_reason,
    split_forced,
    validate_model_version,
)
from loopml.core.validation import validate_key
from loopml.stores.metadata.event_store import NewEvent
from loopml.stores.metadata.pages import DEFAULT_MAX_RESULTS
from loopml.stores.remote import wire
from loopml.stores.remote.http_slice import (
    HttpSlice,
    dotless_segment,
    name_segment,
    page_params,
    segment,
)


class HttpModelStore(HttpSlice):
    """The model registry over ``/models``."""

    def add_model_version(
        self, new: ModelVersion, *, event: NewEvent | None = None
    ) -> ModelVersion:
        wire.refuse_event(event)
        # checked here too: what JSON cannot carry (NaN metrics) fails with the store's message
        spec = validate_model_version(new)
        body = wire.model_version_json(spec)
        path = f"/models/{name_segment('model', body.pop('model'))}/versions"
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

    def page_registered_models(
        self, *, max_results: int = DEFAULT_MAX_RESULTS, page_token: str | None = None
    ) -> Page[RegisteredModel]:
        data = self._api.request_json("GET", "/models", params=page_params(max_results, page_token))
        items = [wire.registered_model_from_json(item) for item in wire.objects(data, "items")]
        return Page(items, wire.page_token(data))

    def page_model_versions(
        self,
        model: str,
        *,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
        newest_first: bool = False,
    ) -> Page[ModelVersion]:
        params = _paged(max_results, page_token, newest_first)
        data = self._api.request_json("GET", f"{self._model_path(model)}/versions", params=params)
        items = [wire.model_version_from_json(item) for item in wire.objects(data, "items")]
        return Page(items, wire.page_token(data))

    def page_alias_history(
        self,
        model: str,
        alias: str | None = None,
        *,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
        newest_first: bool = False,
    ) -> Page[AliasChange]:
        params = _paged(max_results, page_token, newest_first)
        if alias is not None:
            params["alias"] = check_alias_name(alias)
        path = f"{self._model_path(model)}/alias-history"
        data = self._api.request_json("GET", path, params=params)
        items = [wire.alias_change_from_json(item) for item in wire.objects(data, "items")]
        return Page(items, wire.page_token(data))

    def page_gate_results(
        self,
        model: str,
        version: int | None = None,
        *,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
        newest_first: bool = False,
    ) -> Page[GateResult]:
        path = self._model_path(model) if version is None else self._version_path(model, version)
        params = _paged(max_results, page_token, newest_first)
        data = self._api.request_json("GET", f"{path}/gate-results", params=params)
        items = [wire.gate_result_from_json(item) for item in wire.objects(data, "items")]
        return Page(items, wire.page_token(data))

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
        wire.refuse_event(event)
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
        wire.refuse_event(event)
        # checked here: a key with a line break cannot be a path segment the server routes
        key = validate_key("tag", key)
        number = check_model_version(model, version)
        path = f"{self._model_path(model)}/versions/{number}/tags/{dotless_segment(key)}"
        self._api.request("PUT", path, json_body={"value": value})

    def delete_model_version(
        self, model: str, version: int, *, event: NewEvent | None = None
    ) -> None:
        wire.refuse_event(event)
        number = check_model_version(model, version)
        # not idempotent: deleting again is "not found", which a retry must not report
        self._api.request(
            "DELETE", f"{self._model_path(model)}/versions/{number}", idempotent=False
        )

    def add_gate_result(self, result: GateResult, *, event: NewEvent | None = None) -> GateResult:
        """As the embedded store; the server records its authenticated caller as the actor,
        so ``result.actor`` is not sent."""
        wire.refuse_event(event)
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
        wire.refuse_event(event)
        del actor  # the server knows who is calling
        path = f"{self._version_path(model, version)}/approvals"
        data = self._api.request_json("POST", path, json_body={"comment": check_comment(comment)})
        return wire.model_approval_from_json(data)

    def list_model_approvals(self, model: str, version: int | None = None) -> list[ModelApproval]:
        path = self._model_path(model) if version is None else self._version_path(model, version)
        data = self._api.request_json("GET", f"{path}/approvals")
        return [wire.model_approval_from_json(item) for item in wire.objects(data, "items")]

    def _model_path(self, model: object) -> str:
        return f"/models/{name_segment('model', check_model_name(model))}"

    def _version_path(self, model: object, version: object) -> str:
        name = check_model_name(model)
        return f"{self._model_path(name)}/versions/{check_model_version(name, version)}"

    def _alias_path(self, model: object, alias: object) -> str:
        return f"{self._model_path(model)}/aliases/{segment(check_alias_name(alias))}"


def _paged(max_results: int, page_token: str | None, newest_first: bool) -> dict[str, str | int]:
    params = dict(page_params(max_results, page_token))
    if newest_first:
        params["newest_first"] = "true"
    return params
