"""Identifiers and UTC time."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime


def new_id() -> str:
    """A new opaque id: 32 lowercase hex characters (a random UUID4)."""
    return uuid.uuid4().hex


def now_ms() -> int:
    """Milliseconds since the Unix epoch, UTC. Every stored timestamp uses this unit."""
    return time.time_ns() // 1_000_000


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def format_ms(ms: int | None) -> str:
    """ISO-8601 UTC rendering of a millisecond timestamp, ``""`` for None."""
    if ms is None:
        return ""
    return ms_to_datetime(ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")
