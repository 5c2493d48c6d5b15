"""The errors the model server answers with, beyond the shared ones in ``loopml.core.errors``,
and the one place that renders an error in each protocol's own shape, so that protocol's
clients can show it:

- Open Inference Protocol (``/v2/...``): ``{"error": "<message>"}``;
- MLflow scoring (``/invocations``, ``/ping``): ``{"error_code": "BAD_REQUEST", "message"}``;
- loopml's own endpoints (``/health``, ``/feedback``, ...): ``{"error": {"code", "message"}}``.

Every error also carries loopml's stable code in the ``x-loopml-error-code`` header, and every
message names the field at fault (``dataframe_split.columns[3]: expected 'mean_radius'``).
"""

from __future__ import annotations

import logging
from typing import Any

from loopml.core.errors import BackendUnavailableError, InvalidInputError, LoopMLError
from loopml.core.errors import error_body as loopml_error_body

__all__ = [
    "InputMismatchError",
    "ModelNotReadyError",
    "PayloadTooLargeError",
    "PredictionFailedError",
    "UnsupportedMediaTypeError",
    "error_answer",
    "error_body",
    "protocol_of",
]

ERROR_CODE_HEADER = "x-loopml-error-code"
OIP, MLFLOW, LOOPML = "oip", "mlflow", "loopml"
_MLFLOW_PATHS = frozenset({"/invocations", "/ping"})
# MLflow's ErrorCode names (databricks.proto), by HTTP status
_MLFLOW_CODES = {
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "ENDPOINT_NOT_FOUND",
    409: "RESOURCE_CONFLICT",
    413: "REQUEST_LIMIT_EXCEEDED",
    503: "TEMPORARILY_UNAVAILABLE",
}

log = logging.getLogger("loopml.serving")


class PayloadTooLargeError(InvalidInputError):
    """The body is larger than ``--max-body-bytes`` or holds more rows than ``--max-rows``."""

    code, http_status = "payload_too_large", 413


class UnsupportedMediaTypeError(InvalidInputError):
    """The body is neither JSON nor CSV."""

    code, http_status = "unsupported_media_type", 415


class InputMismatchError(InvalidInputError):
    """The body parsed but does not match the model's signature: a missing, extra or
    misspelled column, a value of the wrong type, a wrong shape, a missing value."""

    code, http_status = "input_mismatch", 422


class PredictionFailedError(InvalidInputError):
    """The input matched the signature, but the model raised on it."""

    code, http_status = "prediction_failed", 422


class ModelNotReadyError(BackendUnavailableError):
    """No model version is loaded yet (still loading, or its alias is not set)."""

    code = "model_not_ready"


def protocol_of(path: str) -> str:
    """Which protocol's error shape a request to ``path`` gets: OIP, MLFLOW or LOOPML."""
    if path == "/v2" or path.startswith("/v2/"):
        return OIP
    return MLFLOW if path in _MLFLOW_PATHS else LOOPML


def error_body(path: str, status: int, code: str, message: str) -> dict[str, Any]:
    """The body of an error answered to a request for ``path``, in its protocol's shape."""
    protocol = protocol_of(path)
    if protocol == OIP:
        return {"error": message}
    if protocol == MLFLOW:
        fallback = "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR"
        return {"error_code": _MLFLOW_CODES.get(status, fallback), "message": message}
    return loopml_error_body(code, message)


def error_answer(
    method: str, path: str, exc: Exception
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The status, body and headers for ``exc`` raised while answering ``method path``; the
    server's own faults are logged (with the traceback when unexpected), never shown."""
    where = f"{method} {path}"
    if isinstance(exc, LoopMLError):
        if exc.http_status >= 500 and exc.http_status != 503:
            log.error("%s failed: %s", where, exc.message)
        status, code, message = exc.http_status, exc.code, exc.message
    else:
        log.error("%s failed", where, exc_info=exc)
        status, code = 500, LoopMLError.code
        message = (
            f"The server failed to handle {where} because of an unexpected error; the details "
            "are in the server log."
        )
    return status, error_body(path, status, code, message), {ERROR_CODE_HEADER: code}
