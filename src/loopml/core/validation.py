"""Checks on user input shared by every backend, so embedded and remote reject the same things."""

from __future__ import annotations

import numbers
import posixpath
import re
from collections.abc import Sequence

from loopml.core.entities import (
    ARTIFACT_EDGE_DIRECTIONS,
    MAX_EDGE_NAME_LENGTH,
    MAX_KEY_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PARAM_VALUE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
)
from loopml.core.errors import InvalidInputError
from loopml.core.hashing import Digest

_DRIVE = re.compile(r"^[A-Za-z]:")
_KEY = re.compile(r"^[A-Za-z0-9_\-. /:]+$")
# no '@' or '/': "name@version" and paths must stay unambiguous
_REF_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


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


def validate_ref_name(kind: str, name: object) -> str:
    """A dataset or model name: 1–250 letters, digits, ``_``, ``-`` or ``.`` (it is used in
    references such as ``iris@3`` and as a URL path segment)."""
    text = validate_name(kind, name)
    if not _REF_NAME.match(text):
        raise InvalidInputError(
            f"The {kind} name {text!r} contains characters that are not allowed; use only "
            "letters, digits and _ - . (no '@', '/' or whitespace)."
        )
    return text


def normalize_artifact_path(path: str) -> str:
    """A relative POSIX path inside a run's artifacts; ``..``, absolute paths, Windows drive
    letters, backslashes and NULs refused."""
    if not isinstance(path, str) or "\x00" in path or "\\" in path or _DRIVE.match(path):
        raise InvalidInputError(
            f"Invalid artifact path {path!r}: use a relative POSIX path such as 'model/m.onnx' "
            "(no drive letter, no backslash, no NUL)."
        )
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


def validate_artifact_edges(edges: object) -> list[tuple[str, str, str]]:
    """Distinct ``(direction, digest, name)`` triples, sorted, digests as ``blake3:…``.

    Every edge is checked before any is returned, so a store writes all of them or none.
    """
    if isinstance(edges, str | bytes) or not isinstance(edges, Sequence):
        raise InvalidInputError(
            "Artifact edges must be a list of (direction, digest, name) triples. "
            f"Got {edges!r:.80} instead."
        )
    return sorted({_artifact_edge(item) for item in edges})


def _artifact_edge(item: object) -> tuple[str, str, str]:
    if isinstance(item, str | bytes) or not isinstance(item, Sequence) or len(item) != 3:
        raise InvalidInputError(
            "An artifact edge must be a (direction, digest, name) triple. "
            f"Got {item!r:.80} instead."
        )
    direction, digest, name = item
    if direction not in ARTIFACT_EDGE_DIRECTIONS:
        allowed = " or ".join(repr(d) for d in ARTIFACT_EDGE_DIRECTIONS)
        raise InvalidInputError(
            f"The direction of an artifact edge must be {allowed}. Got {direction!r:.80} instead."
        )
    if not isinstance(digest, str):
        raise InvalidInputError(
            f"The digest of an artifact edge must be a digest string ('blake3:' and 64 hex "
            f"characters). Got {digest!r:.80} instead."
        )
    try:
        parsed = Digest.parse(digest)
    except InvalidInputError as exc:
        raise InvalidInputError(f"The digest of an artifact edge is invalid: {exc}") from exc
    if not isinstance(name, str) or not name or "\x00" in name or len(name) > MAX_EDGE_NAME_LENGTH:
        raise InvalidInputError(
            f"The name of an artifact edge must be a non-empty string of at most "
            f"{MAX_EDGE_NAME_LENGTH} characters without NUL. Got {name!r:.80} instead."
        )
    return direction, str(parsed), name


def validate_edge_digest(digest: object) -> str:
    """A digest to look artifact edges up by, as ``blake3:…``."""
    if not isinstance(digest, str):
        raise InvalidInputError(f"The digest filter must be a digest string. Got {digest!r:.80}.")
    try:
        return str(Digest.parse(digest))
    except InvalidInputError as exc:
        raise InvalidInputError(f"The digest filter is invalid: {exc}") from exc
