"""Checks of what a caller asks a metadata store for, shared by every backend and the server:
pure functions of the request (no store, no I/O), each raising
:class:`~loopml.core.errors.InvalidInputError` that names the field and what is allowed."""

from __future__ import annotations

import re
from collections.abc import Mapping

from loopml.core.errors import InvalidInputError
from loopml.core.validation import validate_key, validate_value

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")


def check_id(kind: str, value: object) -> str:
    """An id passed to a lookup: any string (an unknown one is then "not found")."""
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"The {kind} id must be a non-empty string, got {value!r}.")
    return value


def check_new_run_id(value: object) -> str:
    if not isinstance(value, str) or not RUN_ID.match(value):
        raise InvalidInputError(
            f"A preset run id must be 1-64 letters, digits, '_' or '-', got {value!r}."
        )
    return value


def check_time(what: str, value: object) -> int:
    """A timestamp in milliseconds since the epoch."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InvalidInputError(
            f"The {what} must be an integer number of milliseconds since the epoch (>= 0), "
            f"got {value!r}."
        )
    return value


def check_tags(tags: object) -> dict[str, str]:
    if not isinstance(tags, Mapping):
        raise InvalidInputError(f"Tags must be a mapping of key to value, got {tags!r:.80}.")
    return {validate_key("tag", k): validate_value("tag", k, v) for k, v in tags.items()}
