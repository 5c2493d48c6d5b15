"""Drift of live traffic: the last rows a model server answered, against the served
version's reference, by the same statistics as ``loopml monitor drift`` (:mod:`.drift`).

:class:`LiveWindow` keeps the most recent ``max_rows`` input rows and their predictions —
adding a request is an append under a lock (the request path pays nothing more); memory is
bounded by the window. :class:`LiveReference` is a reference table sampled once (at most
``max_rows`` rows, a fixed seed) with its stored profile, so each computation reads no disk;
with the reference's predictions (the served version's, on that sample) prediction drift is
measured too. :func:`live_drift` compares a window with it.

>>> window = LiveWindow(max_rows=2)  # doctest: +SKIP
>>> window.add("churn@3", inputs, predictions)  # doctest: +SKIP
>>> live_drift(reference, *window.snapshot()).share  # doctest: +SKIP
0.0
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from loopml.core.errors import InvalidInputError

if TYPE_CHECKING:  # the drift tests are imported when first computed, not at start-up
    from loopml.data.profiles import TableProfile
    from loopml.monitoring.drift import DriftReport
    from loopml.monitoring.references import TableSource

__all__ = ["PREDICTION_COLUMN", "LiveReference", "LiveWindow", "live_drift", "sample_reference"]

PREDICTION_COLUMN = "prediction"
SAMPLE_SEED = 0


class LiveWindow:
    """The last ``max_rows`` rows one model version answered (a table each request) and
    their predictions; a request of another version starts the window afresh."""

    def __init__(self, max_rows: int) -> None:
        if max_rows < 1:
            raise InvalidInputError(f"A live window holds at least 1 row. Got {max_rows}.")
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._parts: deque[tuple[pa.Table, Any]] = deque()
        self._rows = 0
        self._version: str | None = None

    @property
    def version(self) -> str | None:
        """The model version (``NAME@N``) whose rows the window holds."""
        return self._version

    @property
    def rows(self) -> int:
        return min(self._rows, self.max_rows)

    def add(self, version: str, inputs: pa.Table, predictions: Any) -> None:
        """Append one request's rows (the oldest beyond ``max_rows`` are let go)."""
        count = inputs.num_rows
        with self._lock:
            if version != self._version:
                self._parts.clear()
                self._rows, self._version = 0, version
            self._parts.append((inputs, predictions))
            self._rows += count
            while self._parts and self._rows - self._parts[0][0].num_rows >= self.max_rows:
                self._rows -= self._parts.popleft()[0].num_rows

    def snapshot(self) -> tuple[str | None, pa.Table | None, Any]:
        """The version, its last ``max_rows`` inputs as one table and their predictions as
        one array (None, None when nothing was added)."""
        import numpy as np

        with self._lock:
            parts, version = list(self._parts), self._version
        if not parts:
            return version, None, None
        inputs = pa.concat_tables([table for table, _ in parts], promote_options="permissive")
        predictions = np.concatenate([np.asarray(p) for _, p in parts])
        start = max(0, inputs.num_rows - self.max_rows)
        return version, inputs.slice(start), predictions[start:]


@dataclass(frozen=True)
class LiveReference:
    """What live rows are compared with: ``table`` (the compared ``features``, sampled),
    its profile's histogram edges, and the served version's predictions on it (None: no
    prediction drift)."""

    label: str
    table: pa.Table
    features: tuple[str, ...]
    profile: TableProfile | None = None
    predictions: Any = None


def sample_reference(
    source: TableSource, features: Sequence[str], *, max_rows: int
) -> tuple[pa.Table, tuple[str, ...]]:
    """The ``features`` the reference has (in their order), read once, as a uniform sample
    of at most ``max_rows`` rows; InvalidInputError when it has none of them."""
    import numpy as np

    present = tuple(name for name in features if name in source.columns)
    if not present:
        have = ", ".join(source.columns[:20])
        raise InvalidInputError(
            f"The reference {source.label} has none of the model's input columns "
            f"({', '.join(features[:20])}); its columns: {have}."
        )
    table = pa.table({name: source.column(name) for name in present})
    if table.num_rows > max_rows:
        chosen = np.random.default_rng(SAMPLE_SEED).choice(table.num_rows, max_rows, replace=False)
        table = table.take(pa.array(np.sort(chosen)))
    return table, present


def live_drift(reference: LiveReference, inputs: pa.Table, predictions: Any) -> DriftReport:
    """The window's drift: each reference feature, the dataset share, and the predictions
    when the reference has its own."""
    import numpy as np

    from loopml.monitoring.drift import DriftOptions, compare
    from loopml.monitoring.references import TableSource

    current = {
        name: inputs.column(name) for name in reference.features if name in inputs.schema.names
    }
    missing = [name for name in reference.features if name not in current]
    if missing:
        raise InvalidInputError(
            f"The live rows have no column {', '.join(map(repr, missing))} of the reference."
        )
    ref_columns = {name: reference.table.column(name) for name in reference.features}
    prediction = None
    values = np.asarray(predictions)
    if reference.predictions is not None and values.ndim == 1:
        prediction = PREDICTION_COLUMN
        while prediction in current:
            prediction = f"_{prediction}"
        current[prediction] = pa.chunked_array([pa.array(values)])
        ref_columns[prediction] = pa.chunked_array([pa.array(np.asarray(reference.predictions))])
    ref_source = TableSource(reference.label, None, reference.profile, table=pa.table(ref_columns))
    live = TableSource.in_memory(pa.table(current), label="live window")
    options = DriftOptions(columns=reference.features, prediction=prediction)
    return compare(ref_source, live, options)
