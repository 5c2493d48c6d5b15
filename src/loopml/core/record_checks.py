"""The field checks the records of identity and of the loop share: a name its pattern matches,
one of an enum's values, a bounded JSON object. Every backend (and the remote client) runs
them, so each refuses the same input with the same message."""

from __future__ import annotations

import enum
import json
import re
from typing import Any, TypeVar

from loopml.core.errors import InvalidInputError

E = TypeVar("E", bound=enum.StrEnum)


def matching_name(value: object, pattern: re.Pattern[str], rule: str, *, shown: int = 80) -> str:
    """``value`` when it is text ``pattern`` matches; else InvalidInputError: ``rule``, then
    what was given (its first ``shown`` characters)."""
    if not isinstance(value, str) or not pattern.match(value):
        raise InvalidInputError(f"{rule}, got {value!r:.{shown}}.")
    return value


def one_of(kind: type[E], field: str, value: object) -> E:
    """``value`` as a member of ``kind``; else InvalidInputError listing the allowed ones."""
    try:
        return kind(str(value))
    except ValueError:
        allowed = ", ".join(str(member) for member in kind)
        raise InvalidInputError(f"{field} must be one of {allowed}, got {value!r:.40}.") from None


def bounded_json_object(
    value: object, what: str, max_bytes: int, *, hint: str = ""
) -> dict[str, Any]:
    """``value`` when it is a JSON object (text keys, finite numbers) of at most
    ``max_bytes`` as JSON; else InvalidInputError naming it as ``what`` (``hint`` ends the
    message of one too large)."""
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise InvalidInputError(f"{what} must be a JSON object, got {value!r:.80}.")
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"{what} must be JSON with finite numbers (no NaN or infinity): {exc}."
        ) from exc
    size = len(text.encode())
    if size > max_bytes:
        raise InvalidInputError(
            f"{what} is {size} bytes as JSON; at most {max_bytes} are kept.{hint}"
        )
    return value
