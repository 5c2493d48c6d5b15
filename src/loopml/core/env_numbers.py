"""Numbers read from environment variables (intervals, budgets, sizes), with one clear error.

>>> env_number("LOOPML_HEARTBEAT_SECONDS", 30.0, low_allowed=False, environ={})
30.0
>>> env_number("LOOPML_HEARTBEAT_SECONDS", 30.0, environ={"LOOPML_HEARTBEAT_SECONDS": "5"})
5.0
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from loopml.core.errors import ConfigError


def env_number(
    name: str,
    default: float,
    *,
    low: float = 0.0,
    low_allowed: bool = True,
    high: float | None = None,
    unit: str = "",
    environ: Mapping[str, str] | None = None,
) -> float:
    """The number in the environment variable ``name``, or ``default`` when it is unset or
    blank. A value that is not a number, or lies outside ``low`` to ``high`` (``low`` itself
    only with ``low_allowed``), raises :class:`ConfigError` naming the variable, what is
    allowed and the value; ``unit`` ("seconds", "MiB") goes into that message."""
    text = (os.environ if environ is None else environ).get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    above_low = value >= low if low_allowed else value > low
    if not (above_low and (high is None or value <= high)):  # NaN fails both
        raise ConfigError(f"{name} must be {_allowed(low, low_allowed, high, unit)}, got {text!r}.")
    return value


def _allowed(low: float, low_allowed: bool, high: float | None, unit: str) -> str:
    number = f"a number of {unit}" if unit else "a number"
    if high is None:
        return f"{number} {'>=' if low_allowed else '>'} {_plain(low)}"
    if low_allowed:
        return f"{number} from {_plain(low)} to {_plain(high)}"
    return f"{number} > {_plain(low)} and <= {_plain(high)}"


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
