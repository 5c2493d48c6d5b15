"""Liveness: answers as soon as the server accepts requests."""

from __future__ import annotations

from fastapi import APIRouter

from loopml.server.context import Context
from loopml.server.schemas import Health

router = APIRouter(tags=["service"])


@router.get("/health")
async def health(ctx: Context) -> Health:
    return Health(status="ok", version=ctx.version)
