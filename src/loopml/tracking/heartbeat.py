"""Run heartbeats: how often a logging process says it is alive, and when a RUNNING run
whose process stopped saying so counts as lost.

A client marks each run it created alive every :func:`heartbeat_seconds` (a stored batch
counts too, at most once per the default interval); ``loopml runs gc`` and ``loopml server``
close runs silent for longer than :func:`lapse_seconds` as KILLED, ended at their last
heartbeat.
"""

from __future__ import annotations

from loopml.core.entities import Run, RunStatus
from loopml.core.env_numbers import env_number

HEARTBEAT_ENV = "LOOPML_HEARTBEAT_SECONDS"
LAPSE_ENV = "LOOPML_RUN_LAPSE_SECONDS"
DEFAULT_HEARTBEAT_SECONDS = 30.0
DEFAULT_LAPSE_SECONDS = 600.0


def _positive_seconds(name: str, default: float) -> float:
    return env_number(name, default, low_allowed=False, high=1e9, unit="seconds")


def heartbeat_seconds() -> float:
    """Seconds between heartbeats (``LOOPML_HEARTBEAT_SECONDS``, default 30)."""
    return _positive_seconds(HEARTBEAT_ENV, DEFAULT_HEARTBEAT_SECONDS)


def lapse_seconds() -> float:
    """Silence after which a RUNNING run is lost (``LOOPML_RUN_LAPSE_SECONDS``, default 600)."""
    return _positive_seconds(LAPSE_ENV, DEFAULT_LAPSE_SECONDS)


def lost_for_ms(run: Run, now_ms: int, lapse_s: float) -> int | None:
    """How long ago a lost run last beat, or None when the run is not lost (ended, still
    beating, or from before heartbeats)."""
    if run.status is not RunStatus.RUNNING or run.heartbeat_at is None:
        return None
    silent = now_ms - run.heartbeat_at
    return silent if silent > lapse_s * 1000 else None


def format_age(ms: int) -> str:
    """``45s``, ``5m``, ``3h``, ``2d``."""
    seconds = max(ms, 0) // 1000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
