"""What the agent reads of the monitoring windows: a window's signals by name (the names of
``loop/signals.py``), the newest complete window of a model per length, and one window over a
span of time for the rollback guard (windows merged, each signal weighted by its samples).

>>> signals_of(window)["drift_share"]  # doctest: +SKIP
0.4
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from loopml.loop.decide import Window
from loopml.monitoring.part_summaries import BUCKET_MS
from loopml.monitoring.windows import Window as LogWindow
from loopml.monitoring.windows import monitor_windows
from loopml.tracking.client import Client

__all__ = ["WindowReader", "merge_windows", "signals_of"]


def signals_of(window: LogWindow) -> tuple[dict[str, float | None], int]:
    """The window's signals (``Window.signals``) and how many of its predictions had labels."""
    labels = (window.checks.performance or {}).get("labelled")
    return window.signals(), int(labels) if isinstance(labels, int | float) else 0


def merge_windows(windows: Iterable[Window]) -> Window | None:
    """One window over several: counts added, every other signal the average of the windows'
    values weighted by the samples it stands on (labelled predictions for performance)."""
    chosen = list(windows)
    if not chosen:
        return None
    names = {name for w in chosen for name in w.signals} - {"traffic"}
    signals: dict[str, float | None] = {"traffic": float(sum(w.traffic for w in chosen))}
    for name in sorted(names):
        pairs = [
            (float(value), w.samples_for(name))
            for w in chosen
            if (value := w.signals.get(name)) is not None
        ]
        weight = sum(n for _, n in pairs)
        if weight:
            signals[name] = sum(v * n for v, n in pairs) / weight
        elif pairs:
            signals[name] = sum(v for v, _ in pairs) / len(pairs)
        else:
            signals[name] = None
    return Window(
        start_ms=min(w.start_ms for w in chosen),
        end_ms=max(w.end_ms for w in chosen),
        signals=signals,
        labels=sum(w.labels for w in chosen),
    )


@dataclass
class WindowReader:
    """Reads windows for one tick, each (ref, length, span) once."""

    client: Client
    now_ms: int
    _cache: dict[tuple[str, int, int, int], list[LogWindow]] = field(default_factory=dict)

    def read(self, ref: str, length_ms: int, since_ms: int, until_ms: int) -> list[LogWindow]:
        key = (ref, length_ms, since_ms, until_ms)
        if key not in self._cache:
            report = monitor_windows(
                self.client, ref, window_ms=length_ms, since_ms=since_ms, until_ms=until_ms
            )
            self._cache[key] = report.windows
        return self._cache[key]

    def newest_complete(self, ref: str, length_ms: int, version: str | None) -> Window | None:
        """The newest window of ``length_ms`` that has ended by now, of ``ref``'s traffic
        (of model version ``version``, ``NAME@N``, when given; else the busiest version)."""
        length = _whole_minutes(length_ms)
        until = self.now_ms // length * length
        found = [
            w
            for w in self.read(ref, length, until - 2 * length, until)
            if version is None or w.model_version == version
        ]
        if not found:
            return None
        newest = max(w.end_ms for w in found)
        window = max((w for w in found if w.end_ms == newest), key=lambda w: w.rows)
        signals, labels = signals_of(window)
        return Window(window.start_ms, window.end_ms, signals, labels)

    def span(self, ref: str, since_ms: int, until_ms: int, length_ms: int) -> Window | None:
        """Every prediction ``ref`` (``NAME@N``) made in ``[since_ms, until_ms)``, read in
        windows of ``length_ms`` (aligned: the first and last may reach outside the span)."""
        length = _whole_minutes(length_ms)
        since = since_ms // length * length
        until = max(-(-until_ms // length) * length, since + length)
        parts = []
        for window in self.read(ref, length, since, until):
            signals, labels = signals_of(window)
            parts.append(Window(window.start_ms, window.end_ms, signals, labels))
        return merge_windows(parts)


def _whole_minutes(length_ms: int) -> int:
    return max(BUCKET_MS, -(-length_ms // BUCKET_MS) * BUCKET_MS)
