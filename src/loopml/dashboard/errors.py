"""Errors under ``/ui`` as pages, not the API's JSON: the error page with the error's
status, and a browser that is not signed in sent to ``/ui/login`` (``loopml server --auth``).

The servers call :func:`page_error` from their exception handlers for requests under
``/ui`` (:func:`is_dashboard_request`); ``/api/...`` errors stay JSON.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from loopml.core.errors import LoopMLError
from loopml.dashboard.templating import error_page, ui_path

__all__ = ["is_dashboard_request", "page_error"]

MAX_LISTED_PROBLEMS = 3
_HTTP_MESSAGES = {
    404: "There is no such page in the dashboard.",
    405: "This page does not answer that method.",
}


def is_dashboard_request(request: Request) -> bool:
    """Whether ``request`` is for the dashboard (``/ui`` or under it)."""
    path: str = request.scope.get("path", "")
    return path == "/ui" or path.startswith("/ui/")


def page_error(request: Request, exc: Exception) -> Response:
    """``exc`` as the error page; a 401 on a browser's GET (one that asks for HTML and sent
    no ``Authorization`` header: a refused Bearer token stays a 401) as a redirect to the
    sign-in form, which comes back here (``next``) once the browser is signed in."""
    status, message = describe(exc)
    if status == 401 and _browser_navigation(request):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query = urlencode({"next": here})
        return RedirectResponse(f"{ui_path(request)}/login?{query}", status_code=303)
    answer = error_page(request, status, message)
    if status == 401 and request.headers.get("HX-Request") == "true":
        # a page's htmx request after the session ended: htmx loads the sign-in form instead
        shown = urlsplit(request.headers.get("HX-Current-URL", ""))
        here = shown.path + (f"?{shown.query}" if shown.query else "")
        answer.headers["HX-Redirect"] = f"{ui_path(request)}/login?{urlencode({'next': here})}"
    return answer


def _browser_navigation(request: Request) -> bool:
    return (
        request.method in ("GET", "HEAD")
        and "authorization" not in request.headers
        and "text/html" in request.headers.get("accept", "")
    )


def describe(exc: Exception) -> tuple[int, str]:
    """The HTTP status of ``exc`` and what to tell the person (no internals)."""
    if isinstance(exc, LoopMLError):
        return exc.http_status, exc.message
    if isinstance(exc, RequestValidationError):
        problems = [
            f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg', '')}"
            for error in exc.errors()[:MAX_LISTED_PROBLEMS]
        ]
        return 400, "Invalid request: " + "; ".join(problems) + "."
    if isinstance(exc, HTTPException):
        return exc.status_code, _HTTP_MESSAGES.get(exc.status_code, str(exc.detail))
    return 500, "The page failed because of an unexpected error; the server log has details."
