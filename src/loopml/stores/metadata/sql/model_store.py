"""The model registry (versions, aliases, tags), gate results and approvals: the registry
slice of :class:`~loopml.stores.metadata.sql.store.SqlMetadataStore`.
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
    check_actor,
    check_alias_name,
    check_model_name,
    check_model_version,
    check_reason,
    validate_model_tag,
    validate_model_version,
)
from loopml.stores.metadata.base import NewEvent
from loopml.stores.metadata.pages import DEFAULT_MAX_RESULTS
from loopml.stores.metadata.sql import models as model_rows
from loopml.stores.metadata.sql import paging, registry_pages
from loopml.stores.metadata.sql.connections import SqlStoreBase
from loopml.stores.metadata.sql.event_store import audited, insert_event


class SqlModelStore(SqlStoreBase):
    """Registered models, their versions, aliases, gate results and approvals."""

    # model registry (see .models for how versions are numbered and aliases moved)

    def add_model_version(
        self, new: ModelVersion, *, event: NewEvent | None = None
    ) -> ModelVersion:
        spec = validate_model_version(new)
        with self._write() as conn:
            if spec.run_id is not None:
                self._require_run(conn, spec.run_id, lock=True)
            added = model_rows.add_version(conn, spec)
            payload = {
                "version": added.version,
                "flavor": added.flavor,
                "tree_digest": added.tree_digest,
            }
            insert_event(conn, audited(event, "model.add_version", f"model:{spec.model}", payload))
            return added

    def get_model_version(self, model: str, version: int | None = None) -> ModelVersion:
        name = check_model_name(model)
        number = None if version is None else check_model_version(name, version)
        with self._read() as conn:
            return model_rows.get_version(conn, name, number)

    def list_model_versions(self, model: str) -> list[ModelVersion]:
        name = check_model_name(model)
        with self._read() as conn:
            return model_rows.list_versions(conn, name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        checked = check_model_name(name)
        with self._read() as conn:
            return model_rows.get_model(conn, checked)

    def list_registered_models(self) -> list[RegisteredModel]:
        with self._read() as conn:
            return model_rows.list_models(conn)

    def page_registered_models(
        self, *, max_results: int = DEFAULT_MAX_RESULTS, page_token: str | None = None
    ) -> Page[RegisteredModel]:
        limit = paging.check_max_results(max_results)
        with self._read() as conn:
            return registry_pages.models_page(conn, limit, page_token)

    def page_model_versions(
        self,
        model: str,
        *,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
        newest_first: bool = False,
    ) -> Page[ModelVersion]:
        name = check_model_name(model)
        limit = paging.check_max_results(max_results)
        with self._read() as conn:
            return registry_pages.versions_page(conn, name, limit, page_token, newest_first)

    def page_alias_history(
        self,
        model: str,
        alias: str | None = None,
        *,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
        newest_first: bool = False,
    ) -> Page[AliasChange]:
        name = check_model_name(model)
        alias = None if alias is None else check_alias_name(alias)
        limit = paging.check_max_results(max_results)
        with self._read() as conn:
            return registry_pages.alias_history_page(
                conn, name, alias, limit, page_token, newest_first
            )

    def page_gate_results(
        self,
        model: str,
        version: int | None = None,
        *,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
        newest_first: bool = False,
    ) -> Page[GateResult]:
        name = check_model_name(model)
        number = None if version is None else check_model_version(name, version)
        limit = paging.check_max_results(max_results)
        with self._read() as conn:
            return registry_pages.gate_results_page(
                conn, name, number, limit, page_token, newest_first
            )

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
        name = check_model_name(model)
        alias = check_alias_name(alias)
        number = None if version is None else check_model_version(name, version)
        who, why = check_actor(actor), check_reason(reason)
        with self._write() as conn:
            change = model_rows.set_alias(conn, name, alias, number, actor=who, reason=why)
            if change.from_version != change.to_version:
                action = "model.set_alias" if number is not None else "model.remove_alias"
                payload: dict[str, object] = {"alias": alias, "from_version": change.from_version}
                if number is not None:
                    payload["to_version"] = change.to_version
                payload["reason"] = change.reason
                before = {"alias": alias, "version": change.from_version}
                after = {"alias": alias, "version": change.to_version}
                new = audited(event, action, f"model:{name}", payload, before=before, after=after)
                insert_event(conn, new)
            return change

    def get_model_alias(self, model: str, alias: str) -> int:
        name, alias = check_model_name(model), check_alias_name(alias)
        with self._read() as conn:
            return model_rows.get_alias(conn, name, alias)

    def list_alias_history(self, model: str, alias: str | None = None) -> list[AliasChange]:
        name = check_model_name(model)
        alias = None if alias is None else check_alias_name(alias)
        with self._read() as conn:
            return model_rows.alias_history(conn, name, alias)

    def set_model_version_tag(
        self, model: str, version: int, key: str, value: str, *, event: NewEvent | None = None
    ) -> None:
        name = check_model_name(model)
        number = check_model_version(name, version)
        key, value = validate_model_tag(name, key, value)
        with self._write() as conn:
            model_rows.set_tag(conn, name, number, key, value)
            payload = {"version": number, "key": key}
            after = {"version": number, "key": key, "value": value}
            new = audited(event, "model.set_version_tag", f"model:{name}", payload, after=after)
            insert_event(conn, new)

    def delete_model_version(
        self, model: str, version: int, *, event: NewEvent | None = None
    ) -> None:
        name = check_model_name(model)
        number = check_model_version(name, version)
        with self._write() as conn:
            before = model_rows.get_version(conn, name, number)
            model_rows.delete_version(conn, name, number)
            payload = {"version": number}
            state = {"version": number, "tree_digest": before.tree_digest}
            new = audited(event, "model.delete_version", f"model:{name}", payload, before=state)
            insert_event(conn, new)

    def add_gate_result(self, result: GateResult, *, event: NewEvent | None = None) -> GateResult:
        spec = validate_gate_result(result)
        with self._write() as conn:
            added = model_rows.add_gate_result(conn, spec)
            payload = {
                "version": added.version,
                "id": added.id,
                "passed": added.passed,
                "policy_digest": added.policy_digest,
            }
            target = f"model:{added.model}"
            insert_event(conn, audited(event, "model.add_gate_result", target, payload))
            return added

    def list_gate_results(self, model: str, version: int | None = None) -> list[GateResult]:
        name = check_model_name(model)
        number = None if version is None else check_model_version(name, version)
        with self._read() as conn:
            return model_rows.list_gate_results(conn, name, number)

    def add_model_approval(
        self,
        model: str,
        version: int,
        *,
        actor: str | None = None,
        comment: str = "",
        event: NewEvent | None = None,
    ) -> ModelApproval:
        name = check_model_name(model)
        number = check_model_version(name, version)
        who, text = check_actor(actor), check_comment(comment)
        with self._write() as conn:
            approval = model_rows.add_approval(conn, name, number, actor=who, comment=text)
            payload = {"version": number, "comment": approval.comment}
            insert_event(conn, audited(event, "model.approve", f"model:{name}", payload))
            return approval

    def list_model_approvals(self, model: str, version: int | None = None) -> list[ModelApproval]:
        name = check_model_name(model)
        number = None if version is None else check_model_version(name, version)
        with self._read() as conn:
            return model_rows.list_approvals(conn, name, number)
