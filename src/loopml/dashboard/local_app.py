"""The app ``loopml ui`` serves: the dashboard alone over a project's own (embedded) store,
for its user on this machine (bound to 127.0.0.1, so no token is asked for)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from loopml.core.errors import LoopMLError
from loopml.dashboard.errors import page_error
from loopml.dashboard.router import dashboard_router, mount_dashboard
from loopml.dashboard.sources import DashboardSources


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
    # a refused request (an unknown experiment, a stale page token, a bad query value, an
    # unknown page) as a page that says why, with the error's HTTP status; anything else as
    # the 500 page (Starlette still re-raises it, so the traceback reaches the log)
    for error in (LoopMLError, RequestValidationError, HTTPException, Exception):
        app.add_exception_handler(error, page_error)
    return app
