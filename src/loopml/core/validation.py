"""Checks on user input shared by every backend, so embedded and remote reject the same things."""

from __future__ import annotations

import numbers
import posixpath
import re

from loopml.core.entities import (
    MAX_KEY_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PARAM_VALUE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
)
from loopml.core.errors import InvalidInputError

_KEY = re.compile(r"^[A-Za-z0-9_\-. /:]+$")


def validate_key(kind: str, key: object) -> str:
    """A param/metric/tag key: 1–250 chars of letters, digits, ``_ - . / : space``."""
    if not isinstance(key, str) or not key:
        raise InvalidInputError(f"The {kind} key must be a non-empty string, got {key!r}.")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInputError(
            f"The {kind} key {key[:40]!r}… is {len(key)} characters long; "
            f"the maximum is {MAX_KEY_LENGTH}."
        )
    if not _KEY.match(key) or key.startswith("/") or ".." in key.split("/"):
        raise InvalidInputError(
            f"The {kind} key {key!r} contains characters that are not allowed; use letters, "
            "digits and _ - . / : or space (no leading '/', no '..')."
        )
    return key


def validate_value(kind: str, key: str, value: object) -> str:
    limit = MAX_PARAM_VALUE_LENGTH if kind == "param" else MAX_TAG_VALUE_LENGTH
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        raise InvalidInputError(
            f"The value of {kind} {key!r} is {len(text)} characters long; the maximum is {limit}."
        )
    return text


def validate_metric_value(key: str, value: object) -> float:
    """Metrics are real numbers; NaN and ±inf are kept as such, bools and strings refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(
            f"The value of metric {key!r} must be a number (int or float, NaN and inf allowed), "
            f"got {type(value).__name__} {value!r}."
        )
    return float(value)


def validate_step(key: str, step: object) -> int:
    if isinstance(step, bool) or not isinstance(step, int):
        raise InvalidInputError(f"The step of metric {key!r} must be an integer, got {step!r}.")
    if not -(2**63) <= step < 2**63:
        raise InvalidInputError(f"The step of metric {key!r} is out of the 64-bit range: {step}.")
    return step


def validate_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"The {kind} name must be a non-empty string, got {name!r}.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInputError(
            f"The {kind} name is {len(name)} characters long; the maximum is {MAX_NAME_LENGTH}."
        )
    return name


def normalize_artifact_path(path: str) -> str:
    """A relative POSIX path inside a run's artifacts; ``..``, absolute paths and NULs refused."""
    if not isinstance(path, str) or "\x00" in path or "\\" in path:
        raise InvalidInputError(f"Invalid artifact path {path!r}: use a relative POSIX path.")
    if path.startswith("/") or any(part == ".." for part in path.split("/")):
        raise InvalidInputError(
            f"Invalid artifact path {path!r}: it must stay inside the run's artifacts "
            "(no leading '/', no '..')."
        )
    normalized = posixpath.normpath(path) if path else ""
    if normalized == ".":
        return ""
    if len(normalized) > 1000:
        raise InvalidInputError("Invalid artifact path: longer than 1000 characters.")
    return normalized
