"""The registry's moves for ``loopml ui`` (no server, no sign-in): the library's own
:func:`loopml.models.promotion.promote` and :func:`~loopml.models.promotion.approve` over the
project's client, as ``loopml models promote`` and ``loopml models approve`` run them — the
project's ``gates.yaml`` is the policy, the local user the actor."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from loopml.core.entities import AliasChange, ModelApproval
from loopml.models.promotion import approve, promote
from loopml.tracking.client import Client

__all__ = ["LocalRegistryActions"]


@dataclass(frozen=True)
class LocalRegistryActions:
    """:class:`loopml.dashboard.sources.RegistryActions` over ``client`` (the caller owns it)."""

    client: Client

    def move_alias(
        self, request: Request, move: tuple[str, str, int], *, reason: str, force: bool
    ) -> AliasChange:
        model, alias, version = move
        ref = f"{model}@{version}"
        return promote(ref, alias=alias, reason=reason, force=force, client=self.client)

    def approve(self, request: Request, model: str, version: int, *, comment: str) -> ModelApproval:
        return approve(f"{model}@{version}", comment=comment, client=self.client)
