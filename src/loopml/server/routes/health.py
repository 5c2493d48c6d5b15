"""Liveness: answers as soon as the server accepts requests."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from loopml.server.auth import anyone
from loopml.server.context import Context
from loopml.server.schemas import Health

router = APIRouter(tags=["service"])


# open to every caller, token or not: load balancers and readiness probes hold none
@router.get("/health", dependencies=[Depends(anyone)])
async def health(ctx: Context) -> Health:
    return Health(status="ok", version=ctx.version)
