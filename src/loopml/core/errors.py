"""One error hierarchy. Each subclass has a stable ``code`` and an HTTP status.

Codes round-trip: the server renders ``{"error": {"code", "message"}}`` (built by
:func:`error_body`, the one place that shape is made: both servers and the CLI's ``--json``
use it) and the remote client raises the same class again with :func:`error_from_code`.
"""

from __future__ import annotations

from collections.abc import Mapping


def error_body(
    code: str, message: str, details: Mapping[str, int | str] | None = None
) -> dict[str, dict[str, object]]:
    """``{"error": {"code", "message"[, "details"]}}``: how an error leaves the platform API,
    the model server's own endpoints and the CLI under ``--json``."""
    error: dict[str, object] = {"code": code, "message": message}
    if details:
        error["details"] = dict(details)
    return {"error": error}


class LoopMLError(Exception):
    """Root of every error loopml raises on purpose."""

    code: str = "internal_error"
    http_status: int = 500
    exit_code: int = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, dict[str, object]]:
        return error_body(self.code, self.message)


class InvalidInputError(LoopMLError):
    """The caller passed something that is not allowed (a value, a path, a key)."""

    code, http_status = "invalid_input", 400


class FilterSyntaxError(InvalidInputError):
    """A search filter could not be parsed; the message points at the position.

    ``problem`` is the message without the text, ``text`` the filter and ``position`` the
    0-based offset in it, so a page can draw its own caret under the text.
    """

    code = "invalid_filter"

    def __init__(self, message: str, *, text: str = "", position: int = 0) -> None:
        self.problem = message
        self.text = text
        self.position = position
        if text:
            message = f"{message} at position {position}:\n  {text}\n  {' ' * position}^"
        super().__init__(message)


class TableFormatError(InvalidInputError):
    """A table file cannot be read: malformed, wrongly encoded, empty, truncated or missing."""

    code = "invalid_table"


class SchemaError(InvalidInputError):
    """A schema is malformed; the message names the file, line, column and field."""

    code = "invalid_schema"


class ExpressionError(InvalidInputError):
    """A row expression could not be parsed; ``position`` is the 0-based offset in the text."""

    code = "invalid_expression"

    def __init__(self, problem: str, *, text: str, position: int) -> None:
        super().__init__(f"{problem} at position {position}:\n  {text}\n  {' ' * position}^")
        self.problem = problem
        self.text = text
        self.position = position


class PayloadTooLargeError(InvalidInputError):
    """A request body or an upload is larger than the server accepts; the message says the
    limit and how to raise it."""

    code, http_status = "too_large", 413


class NotFoundError(LoopMLError):
    code, http_status = "not_found", 404


class AlreadyExistsError(LoopMLError):
    code, http_status = "already_exists", 409


class ConflictError(LoopMLError):
    """The request contradicts stored state (e.g. re-setting a param to a different value)."""

    code, http_status = "conflict", 409


class LeaseLostError(ConflictError):
    """A lease renewed or released by a holder that no longer holds it (it expired and was
    taken, or was never theirs): stop the work the lease guarded."""

    code = "lease_lost"


class LeaseHeldError(ConflictError):
    """A lease another holder has: ``loopml agent --once`` while another agent acts (exit 3)."""

    code, exit_code = "lease_held", 3


class StaleDecisionError(ConflictError):
    """A loop decision moved from a state it is no longer in: another writer (a second agent,
    or this one before a restart) advanced it first. Read it again and carry on from there."""

    code = "stale_decision"


class IntegrityError(LoopMLError):
    """Stored bytes do not match their digest: the store was tampered with or corrupted."""

    code, http_status = "integrity_error", 500


class ConfigError(LoopMLError):
    code, http_status = "config_error", 400


class EncryptionKeyError(ConfigError):
    """An encrypted blob cannot be read: no encryption key is configured, or not the key it
    was written with; or the key setting itself is malformed. Never answered with the
    blob's encrypted bytes."""

    code, http_status = "encryption_key", 500


class BackendUnavailableError(LoopMLError):
    """A backend could not be reached or its optional dependency is not installed."""

    code, http_status = "backend_unavailable", 503


class PermissionDeniedError(LoopMLError):
    code, http_status = "permission_denied", 403


class UntrustedCodeError(PermissionDeniedError):
    """Loading would run code a model version names (a pickle, a ``module:callable``, a
    scikit-learn file with types outside loopml's allowlist) and the caller did not opt in to
    trusting code (``trust_code=True``, ``--trust-code``)."""

    code = "untrusted_code"


class StepFailedError(LoopMLError):
    """A pipeline step raised (after its retries); the message names the step, the exception
    and the run that holds its log."""

    code, http_status, exit_code = "step_failed", 500, 1


class PromotionBlockedError(LoopMLError):
    """A promotion the gate policy does not allow yet: no passed gate, or no approval."""

    code, http_status, exit_code = "promotion_blocked", 409, 1


class UnauthenticatedError(LoopMLError):
    code, http_status = "unauthenticated", 401


def _all_subclasses(cls: type[LoopMLError]) -> list[type[LoopMLError]]:
    found: list[type[LoopMLError]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


def error_from_code(code: str, message: str) -> LoopMLError:
    """Rebuild the error a server reported, so remote callers catch the same class."""
    classes: list[type[LoopMLError]] = [LoopMLError, *_all_subclasses(LoopMLError)]
    for cls in classes:
        if cls.code == code:
            error: LoopMLError = Exception.__new__(cls)
            LoopMLError.__init__(error, message)
            if isinstance(error, FilterSyntaxError):
                error.position = 0
            elif isinstance(error, ExpressionError):
                error.problem, error.text, error.position = message, "", 0
            return error
    return LoopMLError(message)
