"""``dashboard_router``: the dashboard's pages as one APIRouter, mounted under ``/ui``.

The servers pass in their authorization (``require``): every page then declares the one
permission it needs, through the same dependency as every API route. Without it (``loopml ui``
on a project's own store) the pages are open, as the embedded store is to its user.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from loopml.core.roles import Permission
from loopml.dashboard.assets import mount_static
from loopml.dashboard.pages import run, runs
from loopml.dashboard.sources import DashboardSources, Guarded
from loopml.dashboard.templating import NAV, page

__all__ = [
    "STATIC_PATH",
    "UI_PREFIX",
    "DashboardSources",
    "Guard",
    "Guarded",
    "dashboard_router",
    "mount_dashboard",
]

UI_PREFIX = "/ui"
STATIC_PATH = f"{UI_PREFIX}/static"
Guard = Callable[[Permission], Callable[..., Any]]  # permission -> a FastAPI dependency
# the page modules, each serving its navigation slugs (see pages/__init__.py)
PAGES = (runs, run)


def dashboard_router(sources: DashboardSources, *, require: Guard | None = None) -> APIRouter:
    """The pages over ``sources`` (the caller owns the stores), each guarded by
    ``require(permission)`` when given. Include it with ``prefix=UI_PREFIX``."""

    def guarded(permission: Permission) -> list[Any]:
        return [] if require is None else [Depends(require(permission))]

    router = APIRouter(tags=["dashboard"], default_response_class=HTMLResponse)
    served: set[str] = set()
    for module in PAGES:
        module.add_routes(router, sources, guarded)
        served.update(module.SLUGS)
    for item in NAV:  # the pages still to come say so
        if item.slug in served:
            continue
        router.add_api_route(
            f"/{item.slug}",
            _pending(item.slug, item.title),
            methods=["GET"],
            dependencies=guarded(item.permission),
            summary=f"The dashboard's {item.title} page (HTML; not built yet).",
            response_class=HTMLResponse,
        )
    return router


def _pending(slug: str, title: str) -> Callable[[Request], Response]:
    def pending(request: Request) -> Response:
        return page(request, "pending.html", slug, {"title": title})

    pending.__name__ = f"dashboard_{slug}"
    return pending


def mount_dashboard(app: FastAPI, router: APIRouter, **include: Any) -> None:
    """Include ``router`` under ``/ui`` (``include``: more ``include_router`` arguments, such
    as the app's dependencies), its files at ``/ui/static`` and ``/`` and ``/ui`` redirecting
    to ``/ui/`` (open routes outside the API, like ``/docs``)."""
    app.include_router(router, prefix=UI_PREFIX, **include)
    if not any(getattr(route, "path", None) == STATIC_PATH for route in app.routes):
        mount_static(app, STATIC_PATH)

    async def to_dashboard(request: Request) -> Response:
        return RedirectResponse(f"{request.scope.get('root_path', '')}{UI_PREFIX}/")

    app.add_route("/", to_dashboard, include_in_schema=False)
    app.add_route(UI_PREFIX, to_dashboard, include_in_schema=False)
