"""Performance estimated before labels on the model server: the scores of the last rows the
served version answered, put through the CBPE calibration ``loopml monitor report`` fitted
and kept for that version, published as Prometheus gauges
(``loopml_serving_estimated_accuracy`` and ``loopml_serving_estimated_roc_auc``).

A request only appends its scores (:meth:`LiveScores.add`); live drift's thread estimates on
its cadence (``serving/live_drift.py``). The server does not fit a calibration of its own: it
needs the version's first labelled predictions, which the log holds and the report reads
(``monitoring/window_estimates.py``); the server reads the kept JSON from the project's
monitoring cache (``.loopml/cache/monitor/cbpe``), looking again each cadence until it is
there. A server whose project has no report yet (or that runs from a bundle, or against a
remote store whose reports run elsewhere) has no estimated-performance gauge.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loopml.core.errors import InvalidInputError

__all__ = ["LiveEstimates", "LiveScores"]


class LiveScores:
    """The last ``max_rows`` scores of one model version; another version starts afresh."""

    def __init__(self, max_rows: int) -> None:
        if max_rows < 1:
            raise InvalidInputError(f"A live window holds at least 1 row. Got {max_rows}.")
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._parts: deque[Any] = deque()
        self._rows = 0
        self.version: str | None = None

    def add(self, version: str, scores: Any) -> None:
        with self._lock:
            if version != self.version:
                self._parts.clear()
                self._rows, self.version = 0, version
            self._parts.append(scores)
            self._rows += len(scores)
            while self._parts and self._rows - len(self._parts[0]) >= self.max_rows:
                self._rows -= len(self._parts.popleft())

    def snapshot(self) -> tuple[str | None, Any]:
        """The version and its last ``max_rows`` scores (None: none yet)."""
        import numpy as np

        with self._lock:
            parts, version = list(self._parts), self.version
        if not parts:
            return version, None
        scores = np.concatenate([np.asarray(p, dtype=np.float64) for p in parts])
        return version, scores[max(0, len(scores) - self.max_rows) :]


class LiveEstimates:
    """Estimates on the live scores with each version's kept calibration; ``folder`` finds
    the monitoring cache (opened once, when first needed)."""

    def __init__(self, max_rows: int, folder: Callable[[], Path | None]) -> None:
        self.scores = LiveScores(max_rows)
        self._folder = folder
        self._cache: Any = None
        self._digests: dict[str, str] = {}
        self._found: dict[str, Any] = {}  # version → Calibration

    def observe(self, version: str, digest: str, scores: Any) -> None:
        """One request's scores (the request path: an append)."""
        self._digests[version] = digest
        self.scores.add(version, scores)

    def estimate(self) -> tuple[str, Any, int] | None:
        """The version, the estimate on its live scores and their count; None without a
        calibration or scores."""
        version, scores = self.scores.snapshot()
        if version is None or scores is None or not len(scores):
            return None
        calibration = self._calibration(version)
        if calibration is None:
            return None
        return version, calibration.estimator.estimate(scores), len(scores)

    def _calibration(self, version: str) -> Any:
        from loopml.monitoring.part_summaries import SummaryCache
        from loopml.monitoring.window_estimates import calibration_path, load_calibration

        if version in self._found:
            return self._found[version]
        if self._cache is None:
            folder = self._folder()
            if folder is None:
                return None
            self._cache = SummaryCache(folder)
        found = load_calibration(calibration_path(self._cache, version, self._digests[version]))
        if found is not None:
            self._found = {version: found}
        return found
