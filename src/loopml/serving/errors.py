"""The errors the model server answers with, beyond the shared ones in ``loopml.core.errors``.

Every one renders as ``{"error": {"code", "message"}}`` with its own HTTP status, and every
message names the field at fault (``dataframe_split.columns[3]: expected 'mean_radius'``).
"""

from __future__ import annotations

from loopml.core.errors import BackendUnavailableError, InvalidInputError

__all__ = [
    "InputMismatchError",
    "ModelNotReadyError",
    "PayloadTooLargeError",
    "PredictionFailedError",
    "UnsupportedMediaTypeError",
]


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
