"""The model registry slice of the metadata store: versions, aliases and their history,
version tags, and what promotion checks — gate results and approvals (the files are tree
objects in an ArtifactStore).
"""

from __future__ import annotations

from typing import Protocol

from loopml.core.entities import (
    AliasChange,
    GateResult,
    ModelApproval,
    ModelVersion,
    Page,
    RegisteredModel,
)
from loopml.stores.metadata.event_store import NewEvent
from loopml.stores.metadata.pages import DEFAULT_MAX_RESULTS


class ModelStore(Protocol):
    """The model registry: versions, aliases, version tags, gate results, approvals."""

    def add_model_version(
        self, new: ModelVersion, *, event: NewEvent | None = None
    ) -> ModelVersion:
        """Record the next version of model ``new.model`` (created on first use; the
        ``version`` field of ``new`` is ignored and assigned here, 1, 2, …; numbers are never
        reused, and concurrent adders never get the same one). Bad input →
        :class:`InvalidInputError` naming the field; an unknown ``run_id`` →
        :class:`NotFoundError`; nothing is written then."""
        ...

    def get_model_version(self, model: str, version: int | None = None) -> ModelVersion:
        """Version ``version`` of ``model`` (None: the newest); :class:`NotFoundError` names
        the model and version, and lists the versions that exist."""
        ...

    def list_model_versions(self, model: str) -> list[ModelVersion]:
        """Every version of ``model``, oldest first."""
        ...

    def get_registered_model(self, name: str) -> RegisteredModel: ...

    def list_registered_models(self) -> list[RegisteredModel]:
        """Every registered model, ordered by name."""
        ...

    # pages: each reads one page from the store, resuming after the last item of the page
    # before (the token carries its sort key); a bad or foreign token → InvalidInputError
    def page_registered_models(
        self, *, max_results: int = DEFAULT_MAX_RESULTS, page_token: str | None = None
    ) -> Page[RegisteredModel]:
        """Registered models by name (code point order), a page at a time."""
        ...

    def page_model_versions(
        self,
        model: str,
        *,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
        newest_first: bool = False,
    ) -> Page[ModelVersion]:
        """The versions of ``model``, oldest (or newest) first, a page at a time."""
        ...

    def page_alias_history(
        self,
        model: str,
        alias: str | None = None,
        *,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
        newest_first: bool = False,
    ) -> Page[AliasChange]:
        """The moves of ``alias`` (or of every alias of ``model``) in the order they were
        made (or the newest first), a page at a time."""
        ...

    def page_gate_results(
        self,
        model: str,
        version: int | None = None,
        *,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
        newest_first: bool = False,
    ) -> Page[GateResult]:
        """The gate results of ``version`` (None: of every version), by ``evaluated_at``
        then id, oldest (or newest) first, a page at a time; ``max_results=1`` with
        ``newest_first`` is a version's newest gate."""
        ...

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
        """Point ``alias`` at ``version`` (None: remove it) and record the move in the alias
        history, in one transaction. The same version again records nothing and returns the
        change with ``from_version == to_version``. An unknown version, or removing an alias
        that is not set → :class:`NotFoundError`; a bad alias name (``latest`` is reserved)
        → :class:`InvalidInputError`."""
        ...

    def get_model_alias(self, model: str, alias: str) -> int:
        """The version ``alias`` points at; :class:`NotFoundError` lists the model's aliases."""
        ...

    def list_alias_history(self, model: str, alias: str | None = None) -> list[AliasChange]:
        """Every move of ``alias`` (or of every alias of ``model``), oldest first."""
        ...

    def set_model_version_tag(
        self, model: str, version: int, key: str, value: str, *, event: NewEvent | None = None
    ) -> None:
        """Set (or overwrite) one tag of a version."""
        ...

    def delete_model_version(
        self, model: str, version: int, *, event: NewEvent | None = None
    ) -> None:
        """Delete one version with its gate results and approvals, in one transaction (its
        number is never handed out again); refused with :class:`ConflictError`, naming the
        aliases, while an alias points at it."""
        ...

    # gate results and approvals of model versions (what promotion checks)
    def add_gate_result(self, result: GateResult, *, event: NewEvent | None = None) -> GateResult:
        """Store ``result`` with its version and return it as stored (``actor`` as given).
        ``result.id`` is the caller's: 32 lowercase hex characters (``new_id()``); an id
        already stored → :class:`ConflictError`. An unknown model or version →
        :class:`NotFoundError` naming them; a bad field (``checks`` must be JSON objects, may
        be empty; ``policy`` a JSON object; ``policy_digest`` ``sha256:<64 hex>``; ``dataset``
        at most 255 characters) → :class:`InvalidInputError` naming it; nothing is written
        then."""
        ...

    def list_gate_results(self, model: str, version: int | None = None) -> list[GateResult]:
        """The gate results of ``version`` (None: of every version of ``model``), oldest first
        (by ``evaluated_at``, then id). An unknown model or version → :class:`NotFoundError`."""
        ...

    def add_model_approval(
        self,
        model: str,
        version: int,
        *,
        actor: str | None = None,
        comment: str = "",
        event: NewEvent | None = None,
    ) -> ModelApproval:
        """Record an approval of ``version`` for promotion, timed by the store. An unknown
        model or version → :class:`NotFoundError`; a comment over 2000 characters →
        :class:`InvalidInputError`."""
        ...

    def list_model_approvals(self, model: str, version: int | None = None) -> list[ModelApproval]:
        """The approvals of ``version`` (None: of every version of ``model``), oldest first.
        An unknown model or version → :class:`NotFoundError`."""
        ...
