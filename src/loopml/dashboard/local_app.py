"""The app ``loopml ui`` serves: the dashboard alone over a project's own (embedded) store,
for its user on this machine (bound to 127.0.0.1, so no token is asked for)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from loopml.core.errors import LoopMLError
from loopml.dashboard.router import dashboard_router, mount_dashboard
from loopml.dashboard.sources import DashboardSources
from loopml.dashboard.templating import PAGE_HEADERS, environment


def local_app(sources: DashboardSources) -> FastAPI:
    """The dashboard over ``sources`` (the caller owns the stores and closes them)."""
    app = FastAPI(
        title="loopml dashboard",
        openapi_url=None,  # no API here: the pages only
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )
    mount_dashboard(app, dashboard_router(sources))
    app.add_exception_handler(LoopMLError, _error_page)
    return app


async def _error_page(request: Request, exc: Exception) -> HTMLResponse:
    """A refused request (an unknown experiment, a stale page token) as a page that says
    why, with the error's HTTP status."""
    status = exc.http_status if isinstance(exc, LoopMLError) else 500
    html = environment.get_template("error.html").render(
        ui="/ui", static="/ui/static", message=str(exc), status=status
    )
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
