"""The errors the model server answers with, beyond the shared ones in ``loopml.core.errors``.

Every one renders as ``{"error": {"code", "message"}}`` with its own HTTP status, and every
message names the field at fault (``dataframe_split.columns[3]: expected 'mean_radius'``).
"""

from __future__ import annotations

import logging
from typing import Any

from loopml.core.errors import BackendUnavailableError, InvalidInputError, LoopMLError

__all__ = [
    "InputMismatchError",
    "ModelNotReadyError",
    "PayloadTooLargeError",
    "PredictionFailedError",
    "UnsupportedMediaTypeError",
    "error_answer",
]

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


def error_answer(method: str, path: str, exc: Exception) -> tuple[int, dict[str, Any]]:
    """The status and body for ``exc`` raised while answering ``method path``; the server's
    own faults are logged (with the traceback when unexpected), never shown to the client."""
    where = f"{method} {path}"
    if isinstance(exc, LoopMLError):
        if exc.http_status >= 500 and exc.http_status != 503:
            log.error("%s failed: %s", where, exc.message)
        return exc.http_status, {"error": {"code": exc.code, "message": exc.message}}
    log.error("%s failed", where, exc_info=exc)
    message = (
        f"The server failed to handle {where} because of an unexpected error; the details are "
        "in the server log."
    )
    return 500, {"error": {"code": LoopMLError.code, "message": message}}
