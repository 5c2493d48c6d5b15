"""Signing in to the dashboard with an API token (``loopml server --auth`` only):
``GET /ui/login`` asks for one, ``POST /ui/login`` checks it with the server's authenticator
and keeps it in the session cookie (see :mod:`loopml.dashboard.session`), ``POST
/ui/logout`` clears it. The token is never logged, echoed or put in a page.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from loopml.core.errors import InvalidInputError, PermissionDeniedError, UnauthenticatedError
from loopml.dashboard.session import SESSION_COOKIE, form_field, safe_next
from loopml.dashboard.templating import page, ui_path

__all__ = ["SignIn", "TokenCheck", "add_signin_routes"]

# the server's check of a token: the name of its user; UnauthenticatedError if refused
TokenCheck = Callable[[str], Awaitable[str]]


@dataclass(frozen=True)
class SignIn:
    """What the server lends the sign-in routes: its check of a token, and its guard of the
    routes open to every caller (the sign-in form must answer a browser with no token)."""

    check: TokenCheck
    open_guard: Callable[..., Any]


MAX_FORM_BYTES = 8 * 1024
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_.~+/=-]{1,512}")  # what a cookie value may hold
REFUSED = (
    "This token was refused: it is unknown, revoked or expired. Paste a current API token "
    "(an admin makes one with 'loopml tokens create')."
)


def add_signin_routes(router: APIRouter, signin: SignIn) -> None:
    """``/login`` and ``/logout`` on the dashboard's router, checking tokens with the
    server's ``signin.check``."""
    check, open_to_all = signin.check, [Depends(signin.open_guard)]

    def login_form(
        request: Request,
        next: Annotated[str | None, Query(max_length=2000)] = None,
    ) -> HTMLResponse:
        return _form(request, next)

    async def login(request: Request) -> Response:
        _same_origin(request)
        body = await _small_body(request)
        token = (form_field(body, "token") or "").strip()
        target = form_field(body, "next")
        if not token:
            return _form(request, target, "Paste an API token to sign in.", status=400)
        if not _TOKEN_SHAPE.fullmatch(token):
            return _form(request, target, REFUSED, status=401)
        try:
            await check(token)
        except UnauthenticatedError:
            return _form(request, target, REFUSED, status=401)
        response = RedirectResponse(safe_next(target, f"{ui_path(request)}/"), status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    def logout(request: Request) -> Response:
        response = RedirectResponse(f"{ui_path(request)}/login", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    router.add_api_route(
        "/login",
        login_form,
        methods=["GET"],
        dependencies=open_to_all,
        include_in_schema=False,  # a browser's form, not part of the API
        summary="The sign-in form (HTML).",
    )
    router.add_api_route(
        "/login",
        login,
        methods=["POST"],
        dependencies=open_to_all,
        include_in_schema=False,  # a browser's form, not part of the API
        summary="Sign in with an API token (a form post; sets the session cookie).",
        response_class=HTMLResponse,
    )
    router.add_api_route(
        "/logout",
        logout,
        methods=["POST"],
        dependencies=open_to_all,
        include_in_schema=False,  # a browser's form, not part of the API
        summary="Sign out (clears the session cookie).",
        response_class=HTMLResponse,
    )


def _form(
    request: Request, target: str | None, message: str | None = None, *, status: int = 200
) -> HTMLResponse:
    home = f"{ui_path(request)}/"
    response = page(
        request, "login.html", "login", {"next": safe_next(target, home), "message": message}
    )
    response.status_code = status
    return response


def _same_origin(request: Request) -> None:
    """A sign-in posted from another site's form is refused (it would sign the browser in
    as someone else): the host of the ``Origin`` a browser sends must be the one it asked
    (the scheme is not compared: behind a TLS proxy the server may see plain http)."""
    origin = request.headers.get("origin")
    if origin is None:  # not a browser's cross-origin post (curl, an old browser)
        return
    if urlsplit(origin).netloc.lower() != request.url.netloc.lower():
        raise PermissionDeniedError("Sign-in refused: the form was posted from another site.")


async def _small_body(request: Request) -> bytes:
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > MAX_FORM_BYTES:
        raise InvalidInputError(
            f"The sign-in form must be a url-encoded body of at most {MAX_FORM_BYTES} bytes."
        )
    return await request.body()
