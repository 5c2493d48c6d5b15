"""The registry's moves as the platform server makes them, for its API routes and its
dashboard alike: an alias moved under the server's promotion policy, an approval recorded,
each with the authenticated caller as the actor and its audit event. One function per move, so
a button on ``/ui/models`` and a raw ``PUT /api/v1/models/{name}/aliases/{alias}`` are held to
the same rule."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from loopml.core.entities import AliasChange, ModelApproval
from loopml.core.errors import UnauthenticatedError
from loopml.server.audit import attributed
from loopml.server.auth import Principal
from loopml.server.context import ServerContext
from loopml.server.promotion_policy import checked_alias_reason

__all__ = ["ServerRegistryActions", "approve_version", "move_alias"]


def move_alias(
    ctx: ServerContext,
    principal: Principal,
    move: tuple[str, str, int],
    *,
    reason: str,
    force: bool,
) -> AliasChange:
    """Point ``move`` (model, alias, version) as the server's policy allows (409
    :class:`PromotionBlockedError` naming what is missing), recorded with ``principal``."""
    store = ctx.metadata_store
    checked = checked_alias_reason(ctx.promotion, store, move, reason, force=force)
    model, alias, version = move
    return store.set_model_alias(
        model, alias, version, actor=principal.name, reason=checked, event=attributed(principal)
    )


def approve_version(
    ctx: ServerContext, principal: Principal, model: str, version: int, *, comment: str
) -> ModelApproval:
    """Record ``principal``'s approval of ``model@version`` for promotion."""
    return ctx.metadata_store.add_model_approval(
        model, version, actor=principal.name, comment=comment, event=attributed(principal)
    )


@dataclass(frozen=True)
class ServerRegistryActions:
    """:class:`loopml.dashboard.sources.RegistryActions` for the dashboard's pages: the moves
    above, by the principal the server's authorization left on the request."""

    context: ServerContext

    def move_alias(
        self, request: Request, move: tuple[str, str, int], *, reason: str, force: bool
    ) -> AliasChange:
        return move_alias(self.context, _principal(request), move, reason=reason, force=force)

    def approve(self, request: Request, model: str, version: int, *, comment: str) -> ModelApproval:
        return approve_version(self.context, _principal(request), model, version, comment=comment)


def _principal(request: Request) -> Principal:
    """The caller ``authorize`` resolved for this request (every dashboard route runs it
    first); none is a request that never passed authorization: refused, never anonymous."""
    found = getattr(request.state, "principal", None)
    if not isinstance(found, Principal):
        raise UnauthenticatedError("This request was not authorized; sign in and try again.")
    return found
