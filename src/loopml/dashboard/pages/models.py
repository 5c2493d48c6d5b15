"""The models page: ``/ui/models`` lists the registered models with their aliases;
``/ui/models/{name}`` shows one model's versions, its aliases and their whole history, the
versions' gate results side by side, and a version's model card and lineage (the same
``build_card`` as ``loopml card``).

Promote, approve and roll back ask for confirmation on a page of their own (GET), then act
(POST, a plain form). Each is guarded by the permission the API's route needs
(``models:promote``, ``models:approve``) and acts through ``DashboardSources.registry``: on
the platform server, the code its alias and approval routes run (its promotion policy
included); under ``loopml ui``, the library's ``promote``/``approve``. A refusal is a page
with the error's status (409 names what the policy still requires).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from loopml.core.entities import AliasChange, ModelVersion, RegisteredModel
from loopml.core.errors import InvalidInputError, LoopMLError
from loopml.core.refs import check_alias
from loopml.core.roles import Permission
from loopml.dashboard.formatting import timestamp
from loopml.dashboard.forms import form_number, form_text, read_form
from loopml.dashboard.model_views import card_blocks, gate_matrix, lineage_layout, rollback_targets
from loopml.dashboard.sources import DashboardSources, Guarded, RegistryActions
from loopml.dashboard.templating import page
from loopml.governance.card_render import card_html, card_markdown
from loopml.governance.card_sections import card_sections
from loopml.governance.model_card import ModelCard, build_card
from loopml.models.promotion_rules import CHAMPION
from loopml.stores.artifacts.base import ArtifactStore
from loopml.stores.loop.base import LoopStore
from loopml.stores.metadata.base import MetadataStore

SLUGS = ("models",)
MODELS_PER_PAGE, MAX_MODELS_PER_PAGE = 50, 200
VERSIONS_PER_PAGE, MAX_VERSIONS_PER_PAGE = 10, 50
HISTORY_PER_PAGE = 50
MAX_REASON = 500
MAX_COMMENT = 2000
# what the model page says after an action redirected to it (fixed texts, never echoed)
NOTICES = {
    "promoted": "The alias was moved; the move is at the top of its history.",
    "rolled-back": "The alias was rolled back; the move is at the top of its history.",
    "approved": "The approval was recorded.",
}
Name = Annotated[str, Path(max_length=200, description="The registered model's name.")]
Token = Annotated[str | None, Query(max_length=4000, description="The store's page token.")]


@dataclass(frozen=True)
class StoreView:
    """The stores as the model card and lineage queries read them (a client's three)."""

    metadata: MetadataStore
    artifacts: ArtifactStore
    loop: LoopStore


def add_routes(router: APIRouter, sources: DashboardSources, guarded: Guarded) -> None:
    routes: list[tuple[str, Callable[..., Any], str, Permission, str]] = [
        ("/models", _list(sources), "GET", "models:read", "The registered models (HTML)."),
        ("/models/{name}", _model(sources), "GET", "models:read", "One model (HTML)."),
        (
            "/models/{name}/versions/{version}/card.{fmt}",
            _card_file(sources),
            "GET",
            "models:read",
            "A version's model card as a file (card.md or card.html).",
        ),
        ("/models/{name}/promote", _confirm_promote(sources), "GET", "models:promote",
         "Confirm moving an alias to a version (HTML)."),
        ("/models/{name}/promote", _promote(sources), "POST", "models:promote",
         "Move an alias to a version, as PUT /api/v1/models/{name}/aliases/{alias} (a form)."),
        ("/models/{name}/rollback", _confirm_rollback(sources), "GET", "models:promote",
         "Confirm rolling an alias back (HTML)."),
        ("/models/{name}/rollback", _rollback(sources), "POST", "models:promote",
         "Move an alias back to the version it named before, as loopml models rollback."),
        ("/models/{name}/approve", _confirm_approve(sources), "GET", "models:approve",
         "Confirm approving a version (HTML)."),
        ("/models/{name}/approve", _approve(sources), "POST", "models:approve",
         "Approve a version, as POST /api/v1/models/{name}/versions/{v}/approvals (a form)."),
    ]  # fmt: skip
    for path, endpoint, method, permission, summary in routes:
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            dependencies=guarded(permission),
            summary=summary,
            response_class=HTMLResponse,
            name=f"dashboard_{method.lower()}_{endpoint.__name__}",
        )


# -- reading ---------------------------------------------------------------------------------


def _list(sources: DashboardSources) -> Callable[..., Response]:
    def models_list(
        request: Request,
        page_token: Token = None,
        per_page: Annotated[int, Query(ge=1, le=MAX_MODELS_PER_PAGE)] = MODELS_PER_PAGE,
    ) -> Response:
        shown = sources.metadata.page_registered_models(max_results=per_page, page_token=page_token)
        next_token = shown.next_page_token
        return page(
            request,
            "models.html",
            "models",
            {
                "models": [_model_row(model) for model in shown],
                "next_query": _query(page_token=next_token, per_page=per_page)
                if next_token
                else None,
                "first_query": _query(per_page=per_page) if page_token else None,
            },
        )

    return models_list


def _model_row(model: RegisteredModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "latest": model.latest_version,
        "aliases": sorted(model.aliases.items()),
        "updated": timestamp(model.updated_at),
        "description": model.description,
    }


def _model(sources: DashboardSources) -> Callable[..., Response]:
    def model_page(
        request: Request,
        name: Name,
        version: Annotated[int | None, Query(ge=1, description="The version to show.")] = None,
        page_token: Token = None,
        per_page: Annotated[int, Query(ge=1, le=MAX_VERSIONS_PER_PAGE)] = VERSIONS_PER_PAGE,
        history_token: Token = None,
        notice: Annotated[str | None, Query(max_length=20)] = None,
    ) -> Response:
        try:
            where = Position(per_page, page_token, history_token)
            values = _model_values(sources, name, version, where)
        except LoopMLError as exc:
            return _refused(request, exc, None)
        values["notice"] = NOTICES.get(notice or "")
        values["can_act"] = sources.registry is not None
        return page(request, "model.html", "models", values)

    return model_page


@dataclass(frozen=True)
class Position:
    """Which page of a model's versions and of its alias history is shown (store tokens)."""

    per_page: int
    versions: str | None
    history: str | None


def _model_values(
    sources: DashboardSources, name: str, selected: int | None, where: Position
) -> dict[str, Any]:
    """What the model page shows, each list one page read from the store."""
    metadata = sources.metadata
    model = metadata.get_registered_model(name)
    shown = metadata.page_model_versions(
        name, max_results=where.per_page, page_token=where.versions, newest_first=True
    )
    history = metadata.page_alias_history(
        name, max_results=HISTORY_PER_PAGE, page_token=where.history, newest_first=True
    )
    if selected is None:
        selected = model.aliases.get(CHAMPION, model.latest_version)
    numbers = [v.version for v in shown]
    # per version on the page: whether it is approved, its newest gate
    approved = {n for n in numbers if metadata.list_model_approvals(name, n)}
    gates = [
        gate
        for n in numbers
        for gate in metadata.page_gate_results(name, n, max_results=1, newest_first=True)
    ]
    here = {"per_page": where.per_page, "version": selected}
    return {
        "model": model,
        "aliases": sorted(model.aliases.items()),
        "rollbacks": _rollbacks(metadata, model),
        "versions": [_version_row(v, model, approved) for v in shown],
        "versions_next": _query(**here, page_token=shown.next_page_token)
        if shown.next_page_token
        else None,
        "versions_first": _query(**here) if where.versions else None,
        "gates": gate_matrix(numbers, gates),
        "history": [_change_row(c) for c in history],
        "history_next": _query(
            **here, page_token=where.versions, history_token=history.next_page_token
        )
        if history.next_page_token
        else None,
        "history_first": _query(**here, page_token=where.versions) if where.history else None,
        "selected": selected,
        **_card_values(sources, name, selected),
    }


def _rollbacks(metadata: MetadataStore, model: RegisteredModel) -> dict[str, tuple[int, int]]:
    """Where a rollback moves each alias the model has now (the CLI's rule reads the
    alias's history)."""
    history = [c for alias in model.aliases for c in metadata.list_alias_history(model.name, alias)]
    return rollback_targets(history)


def _version_row(
    version: ModelVersion, model: RegisteredModel, approved: set[int]
) -> dict[str, Any]:
    return {
        "number": version.version,
        "created": timestamp(version.created_at),
        "created_by": version.created_by or "",
        "flavor": version.flavor,
        "run": version.run_id[:8] if version.run_id else "",
        "run_id": version.run_id or "",
        "datasets": list(version.datasets),
        "metrics": ", ".join(f"{k}={v:.4g}" for k, v in sorted(version.metrics.items())[:4]),
        "aliases": [a for a, v in sorted(model.aliases.items()) if v == version.version],
        "approved": version.version in approved,
    }


def _change_row(change: AliasChange) -> dict[str, str]:
    return {
        "at": timestamp(change.at),
        "alias": change.alias,
        "from": "unset" if change.from_version is None else str(change.from_version),
        "to": "unset" if change.to_version is None else str(change.to_version),
        "actor": change.actor or "",
        "reason": change.reason,
    }


def _card_values(sources: DashboardSources, name: str, version: int | None) -> dict[str, Any]:
    """The selected version's card and lineage, or why they cannot be shown."""
    if version is None:
        return {"card": None, "card_missing": "No version registered yet."}
    if sources.artifacts is None or sources.loop is None:
        return {
            "card": None,
            "card_missing": "The model card needs the artifact and deployment stores, "
            "which this dashboard was started without.",
        }
    card = _build_card(sources, name, version)
    return {
        "card": card,
        "card_sections": card_blocks(card_sections(card)),
        "lineage": lineage_layout(card.lineage),
        "card_missing": None,
    }


def _build_card(sources: DashboardSources, name: str, version: int) -> ModelCard:
    if sources.artifacts is None or sources.loop is None:
        raise InvalidInputError(
            "The model card needs the artifact and deployment stores, which this dashboard "
            "was started without."
        )
    view = StoreView(sources.metadata, sources.artifacts, sources.loop)
    return build_card(view, f"{name}@{version}")


def _card_file(sources: DashboardSources) -> Callable[..., Response]:
    def model_card_file(
        request: Request,
        name: Name,
        version: Annotated[int, Path(ge=1)],
        fmt: Annotated[str, Path(pattern="^(md|html)$", description="md or html")],
    ) -> Response:
        try:
            card = _build_card(sources, name, version)
        except LoopMLError as exc:
            return _refused(request, exc, name)
        text, media = (
            (card_html(card), "text/html")
            if fmt == "html"
            else (card_markdown(card), "text/markdown")
        )
        filename = f"{card.version.model}-{card.version.version}-card.{fmt}"
        disposition = f"attachment; filename*=UTF-8''{quote(filename)}"
        headers = {
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",  # a file to keep, never a page of this site
        }
        return Response(text, media_type=f"{media}; charset=utf-8", headers=headers)

    return model_card_file


# -- confirming and acting -------------------------------------------------------------------


def _confirm_promote(sources: DashboardSources) -> Callable[..., Response]:
    def promote_confirm(
        request: Request,
        name: Name,
        version: Annotated[int, Query(ge=1)],
        alias: Annotated[str, Query(max_length=64)] = CHAMPION,
    ) -> Response:
        try:
            check_alias(alias)
            model = sources.metadata.get_registered_model(name)
            sources.metadata.get_model_version(name, version)
        except LoopMLError as exc:
            return _refused(request, exc, name)
        values = {"action": "promote", "model": model, "number": version, "alias": alias,
                  "now": model.aliases.get(alias)}  # fmt: skip
        return _confirm_page(request, sources, values)

    return promote_confirm


def _confirm_rollback(sources: DashboardSources) -> Callable[..., Response]:
    def rollback_confirm(
        request: Request, name: Name, alias: Annotated[str, Query(max_length=64)] = CHAMPION
    ) -> Response:
        try:
            check_alias(alias)
            model = sources.metadata.get_registered_model(name)
            now, target = _rollback_target(sources.metadata, name, alias)
        except LoopMLError as exc:
            return _refused(request, exc, name)
        values = {"action": "rollback", "model": model, "number": target, "alias": alias,
                  "now": now}  # fmt: skip
        return _confirm_page(request, sources, values)

    return rollback_confirm


def _confirm_approve(sources: DashboardSources) -> Callable[..., Response]:
    def approve_confirm(
        request: Request, name: Name, version: Annotated[int, Query(ge=1)]
    ) -> Response:
        try:
            model = sources.metadata.get_registered_model(name)
            sources.metadata.get_model_version(name, version)
        except LoopMLError as exc:
            return _refused(request, exc, name)
        values = {"action": "approve", "model": model, "number": version, "alias": "", "now": None}
        return _confirm_page(request, sources, values)

    return approve_confirm


def _confirm_page(request: Request, sources: DashboardSources, values: dict[str, Any]) -> Response:
    if sources.registry is None:
        return _refused(request, _read_only(), values["model"].name)
    return page(request, "models_confirm.html", "models", values)


def _promote(sources: DashboardSources) -> Callable[..., Any]:
    async def promote_version(request: Request, name: Name) -> Response:
        try:
            form = await read_form(request)
            version = form_number(form, "version")
            alias = check_alias(form.get("alias") or CHAMPION)
            reason = form_text(form, "reason", MAX_REASON)
            force = form.get("force") == "on"
            registry = _registry(sources)
            move = (name, alias, version)
        except LoopMLError as exc:
            return _refused(request, exc, name)
        try:
            await run_in_threadpool(
                lambda: registry.move_alias(request, move, reason=reason, force=force)
            )
        except LoopMLError as exc:  # refused by the policy: back to the confirmation to force it
            retry = f"promote?{_query(version=version, alias=alias)}"
            return _refused(request, exc, name, retry=retry)
        return _back(request, name, version, "promoted")

    return promote_version


def _rollback(sources: DashboardSources) -> Callable[..., Any]:
    async def rollback_alias(request: Request, name: Name) -> Response:
        try:
            form = await read_form(request)
            alias = check_alias(form.get("alias") or CHAMPION)
            confirmed = form_number(form, "to_version")
            reason = form_text(form, "reason", MAX_REASON)
            registry = _registry(sources)

            def act() -> int:
                now, target = _rollback_target(sources.metadata, name, alias)
                if target != confirmed:
                    raise InvalidInputError(
                        f"{name}@{alias} moved since the rollback was confirmed: it would now go "
                        f"back to version {target}, not {confirmed}. Look again and confirm."
                    )
                why = reason or f"rollback from version {now}"
                registry.move_alias(request, (name, alias, target), reason=why, force=False)
                return target

            target = await run_in_threadpool(act)
        except LoopMLError as exc:
            return _refused(request, exc, name)
        return _back(request, name, target, "rolled-back")

    return rollback_alias


def _approve(sources: DashboardSources) -> Callable[..., Any]:
    async def approve_version(request: Request, name: Name) -> Response:
        try:
            form = await read_form(request)
            version = form_number(form, "version")
            comment = form_text(form, "comment", MAX_COMMENT)
            registry = _registry(sources)
            await run_in_threadpool(
                lambda: registry.approve(request, name, version, comment=comment)
            )
        except LoopMLError as exc:
            return _refused(request, exc, name)
        return _back(request, name, version, "approved")

    return approve_version


def _rollback_target(metadata: MetadataStore, name: str, alias: str) -> tuple[int, int]:
    """(the version ``alias`` names now, the one a rollback goes back to), as ``loopml models
    rollback`` computes them; InvalidInputError when there is no earlier version."""
    targets = rollback_targets(metadata.list_alias_history(name, alias))
    if alias not in targets:
        raise InvalidInputError(f"{name}@{alias} has no earlier version to roll back to.")
    return targets[alias]


def _registry(sources: DashboardSources) -> RegistryActions:
    if sources.registry is None:
        raise _read_only()
    return sources.registry


def _read_only() -> InvalidInputError:
    return InvalidInputError(
        "This dashboard was started without the registry's actions: it only shows models."
    )


def _back(request: Request, name: str, version: int, notice: str) -> Response:
    """To the model's page (303: the browser GETs it), saying what was done."""
    ui = f"{request.scope.get('root_path', '')}/ui"
    query = _query(version=version, notice=notice)
    return RedirectResponse(f"{ui}/models/{quote(name, safe='')}?{query}#aliases", 303)


def _refused(
    request: Request, exc: LoopMLError, name: str | None, *, retry: str | None = None
) -> Response:
    """A refused request as a page saying why, with the error's status (``retry``: the
    confirmation page to go back to, relative to the model's)."""
    values = {"message": exc.message, "status": exc.http_status, "name": name, "retry": retry}
    answer = page(request, "models_error.html", "models", values)
    answer.status_code = exc.http_status
    return answer


def _query(**values: str | int | None) -> str:
    return urlencode({k: v for k, v in values.items() if v is not None})
