"""Durations as people write them in config files: ``500ms``, ``5s``, ``15m``, ``1h``, ``1w``.

>>> parse_duration_ms("15m"), format_duration_ms(90_000)
(900000, '90s')
"""

from __future__ import annotations

import re

__all__ = ["DURATION_FORMS", "DURATION_UNITS_MS", "format_duration_ms", "parse_duration_ms"]

DURATION_UNITS_MS = {
    "ms": 1,
    "s": 1_000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
}
DURATION_FORMS = "a number and a unit: ms, s, m, h, d or w (e.g. 500ms, 5s, 15m, 1h, 1d, 1w)"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")


def parse_duration_ms(text: str) -> int | None:
    """``text`` in milliseconds (rounded to a whole one), or None when it is not a duration."""
    found = _DURATION.match(text)
    if found is None:
        return None
    return round(float(found.group(1)) * DURATION_UNITS_MS[found.group(2)])


def format_duration_ms(ms: int) -> str:
    """The shortest exact form of ``ms`` in the largest unit that divides it: ``1h``, ``90s``."""
    for unit in ("w", "d", "h", "m", "s"):
        size = DURATION_UNITS_MS[unit]
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"
