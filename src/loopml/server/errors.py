"""Every error leaves the server as ``{"error": {"code": ..., "message": ...}}``, plus a
``details`` object where the error carries structured data (a filter error's ``position``).

* a :class:`LoopMLError` → its own ``http_status`` and ``code`` (the client rebuilds the class);
* a request that does not match the API (bad JSON, a wrong type, a missing field) → 400
  ``invalid_input`` naming the field, never a 500;
* an unknown route or method → 404 / 405 in the same shape;
* anything unexpected → 500 ``internal_error`` without internals (the server log has them).

Under ``/ui`` (the dashboard's pages) every error is an HTML page instead, and a browser that
is not signed in is sent to ``/ui/login`` (:func:`loopml.dashboard.errors.page_error`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from loopml.core.errors import FilterSyntaxError, InvalidInputError, LoopMLError, error_body
from loopml.dashboard.errors import is_dashboard_request, page_error
from loopml.server.metrics import ERROR_CODE_SCOPE

MAX_LISTED_PROBLEMS = 5
_CODE_BY_STATUS = {
    400: "invalid_input",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
}


def error_response(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    details: dict[str, int | str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def _field(loc: Sequence[int | str]) -> str:
    """``("body", "metrics", 0, "value")`` → ``body.metrics[0].value``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _describe_validation_errors(errors: Sequence[Any]) -> str:
    """One readable sentence per problem, naming the field; the input itself is not echoed."""
    problems: list[str] = []
    for error in errors[:MAX_LISTED_PROBLEMS]:
        loc = tuple(error.get("loc", ()))
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "malformed JSON")
            problems.append(f"the body is not valid JSON ({reason})")
        else:
            problems.append(f"{_field(loc) or 'request'}: {error.get('msg', 'invalid')}")
    more = len(errors) - MAX_LISTED_PROBLEMS
    suffix = f" (and {more} more)" if more > 0 else ""
    return "Invalid request: " + "; ".join(problems) + suffix + "."


def _loopml_error(request: Request, exc: Exception) -> Response:
    error = exc if isinstance(exc, LoopMLError) else LoopMLError(str(exc))
    details: dict[str, int | str] = {}
    if isinstance(error, FilterSyntaxError):
        details["position"] = error.position
    request.scope[ERROR_CODE_SCOPE] = error.code  # for /metrics' failures by code
    if is_dashboard_request(request):
        return page_error(request, error)
    # a 401 says how to authenticate (RFC 6750)
    headers = {"WWW-Authenticate": "Bearer"} if error.http_status == 401 else None
    return error_response(
        error.http_status, error.code, error.message, headers=headers, details=details
    )


def _validation_error(request: Request, exc: Exception) -> Response:
    if is_dashboard_request(request):
        return page_error(request, exc)
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    message = _describe_validation_errors(errors)
    content_type = request.headers.get("content-type", "")
    body_unparsed = any(tuple(e.get("loc", ())) == ("body",) for e in errors)
    if body_unparsed and request.method != "GET" and "json" not in content_type:
        message = (
            "Invalid request: the body must be a JSON object sent with "
            f"Content-Type: application/json (got {content_type or 'no Content-Type'!r})."
        )
    return error_response(InvalidInputError.http_status, InvalidInputError.code, message)


def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StarletteHTTPException):
        return _unexpected_error(request, exc)
    if is_dashboard_request(request):
        return page_error(request, exc)
    status = exc.status_code
    where = f"{request.method} {request.url.path}"
    if status == 404:
        message = f"No such endpoint: {where}. The API lives under /api/v1 (see /openapi.json)."
    elif status == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}."
    else:
        message = str(exc.detail)
    code = _CODE_BY_STATUS.get(status, "http_error")
    return error_response(status, code, message, headers=dict(exc.headers or {}))


def _unexpected_error(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after sending this, so the server logs the traceback
    if is_dashboard_request(request):
        return page_error(request, exc)
    return error_response(
        500,
        LoopMLError.code,
        f"The server failed to handle {request.method} {request.url.path} because of an "
        "unexpected error; the details are in the server log.",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LoopMLError, _loopml_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
