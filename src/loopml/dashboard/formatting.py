"""How the dashboard writes times and durations (pure functions, unit-tested)."""

from __future__ import annotations

from datetime import UTC, datetime


def timestamp(ms: int | None) -> str:
    """Milliseconds since the epoch as ``2026-12-07 20:25:01 UTC``; ``""`` for None."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(start_ms: int, end_ms: int | None) -> str:
    """The time between two instants as ``1h 02m 03s``, ``2m 03s`` or ``0.4s``; ``""`` while
    the run has not ended."""
    if end_ms is None:
        return ""
    seconds = max(end_ms - start_ms, 0) / 1000
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
