"""What the prediction log holds, as Arrow tables: one row per prediction, one per label.

A request adds one :class:`PredictionEntry` (its rows, predictions and timing) or one
:class:`FeedbackEntry`; the log's writer thread turns many entries of the same group (same
kind, model version and traffic) into one table with :func:`to_table`, so the request path
does no Arrow work at all.

Prediction rows: ``prediction_id``, ``request_id``, ``time`` (UTC, ms), ``model_version``
(``cancer@3``), ``traffic`` (``main``, ``canary``, or ``shadow``: scored, never returned),
``latency_ms`` (the request's, to its predictions), ``inputs`` (a struct of the signature's
columns, or a list of the row's values for an array model) and ``prediction`` (a number or
string, or a list for several outputs per row) and, for a classifier whose probabilities came
with its predictions, ``score`` (the positive class's probability for a binary classifier, the
list of per-class probabilities in its ``classes_`` order for a multiclass one; absent from
older logs and from models without probabilities). Feedback rows: ``prediction_id``, ``label``,
``time``. Error rows (a request the chosen version did not answer: its body did not parse or
fit the signature, or the model raised): ``request_id``, ``time``, ``model_version``,
``traffic``, ``latency_ms``, ``status`` (the HTTP status answered) and ``code`` (loopml's
error code), so monitoring counts an error rate per window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "ERRORS",
    "FEEDBACK",
    "KINDS",
    "PREDICTIONS",
    "ErrorEntry",
    "FeedbackEntry",
    "LogEntry",
    "PredictionEntry",
    "prediction_ids",
    "to_table",
]

PREDICTIONS = "predictions"
FEEDBACK = "feedback"
ERRORS = "errors"
KINDS = (PREDICTIONS, FEEDBACK, ERRORS)


class LoggedRows(Protocol):
    """A request's checked input as the model server holds it (``serving.rows.Rows``):
    ``data`` is a numpy array or a ``pyarrow.Table``."""

    @property
    def data(self) -> Any: ...

    @property
    def count(self) -> int: ...

    @property
    def is_table(self) -> bool: ...


def prediction_ids(prefix: str, count: int) -> list[str]:
    """The ids of a request's rows: ``PREFIX-0``, ``PREFIX-1``, ..."""
    return [f"{prefix}-{index}" for index in range(count)]


@dataclass(frozen=True, slots=True)
class PredictionEntry:
    """One request's predictions by one model version."""

    id_prefix: str
    request_id: str
    time_ms: int
    model_version: str
    traffic: str
    latency_ms: float
    rows: LoggedRows
    predictions: Any  # numpy array, one entry per row
    scores: Any = None  # class probabilities per row (serving.scoring), None: not scored

    kind = PREDICTIONS

    @property
    def count(self) -> int:
        return self.rows.count

    @property
    def group(self) -> tuple[str, ...]:
        return (PREDICTIONS, self.model_version, self.traffic)


@dataclass(frozen=True, slots=True)
class FeedbackEntry:
    """Ground truth for predictions, by id; ``labels`` are all numbers, all strings or all
    booleans (checked where the feedback came in)."""

    prediction_ids: Sequence[str]
    labels: Sequence[Any]
    time_ms: int

    kind = FEEDBACK

    @property
    def count(self) -> int:
        return len(self.prediction_ids)

    @property
    def group(self) -> tuple[str, ...]:
        return (FEEDBACK, _label_type(self.labels))


@dataclass(frozen=True, slots=True)
class ErrorEntry:
    """A request that version ``model_version`` was chosen for and did not answer."""

    request_id: str
    time_ms: int
    model_version: str
    traffic: str
    latency_ms: float
    status: int
    code: str

    kind = ERRORS

    @property
    def count(self) -> int:
        return 1

    @property
    def group(self) -> tuple[str, ...]:
        return (ERRORS,)


LogEntry = PredictionEntry | FeedbackEntry | ErrorEntry


def to_table(entries: Sequence[LogEntry]) -> Any:
    """The ``pyarrow.Table`` of entries that share one ``group``."""
    if isinstance(entries[0], FeedbackEntry):
        return _feedback_table([e for e in entries if isinstance(e, FeedbackEntry)])
    if isinstance(entries[0], ErrorEntry):
        return _error_table([e for e in entries if isinstance(e, ErrorEntry)])
    return _prediction_table([e for e in entries if isinstance(e, PredictionEntry)])


def _prediction_table(entries: Sequence[PredictionEntry]) -> Any:
    import numpy as np
    import pyarrow as pa

    counts = [entry.count for entry in entries]
    ids = [pid for entry in entries for pid in prediction_ids(entry.id_prefix, entry.count)]
    first = entries[0]

    def repeat(values: Sequence[Any]) -> Any:
        return np.repeat(np.asarray(values), counts)

    columns = {
        "prediction_id": pa.array(ids, pa.string()),
        "request_id": pa.array(repeat([e.request_id for e in entries]), pa.string()),
        "time": pa.array(repeat([e.time_ms for e in entries]), pa.timestamp("ms", tz="UTC")),
        "model_version": pa.array([first.model_version] * len(ids), pa.string()),
        "traffic": pa.array([first.traffic] * len(ids), pa.string()),
        "latency_ms": pa.array(repeat([e.latency_ms for e in entries]), pa.float64()),
        "inputs": _inputs([entry.rows for entry in entries]),
        "prediction": _values(np.concatenate([np.asarray(e.predictions) for e in entries])),
    }
    if any(entry.scores is not None for entry in entries):
        columns["score"] = _scores(entries)
    return pa.table(columns)


def _scores(entries: Sequence[PredictionEntry]) -> Any:
    """The entries' scores as one column: floats, or fixed-size lists of per-class floats;
    null for the rows of an entry without scores."""
    import numpy as np
    import pyarrow as pa

    shape = next(np.asarray(e.scores).shape[1:] for e in entries if e.scores is not None)
    blocks, missing = [], []
    for entry in entries:
        scored = entry.scores is not None
        blocks.append(
            np.asarray(entry.scores, dtype=np.float64)
            if scored
            else np.full((entry.count, *shape), np.nan)
        )
        missing.append(np.full(entry.count, not scored))
    values, mask = np.concatenate(blocks), np.concatenate(missing)
    if values.ndim == 1:
        return pa.array(values, pa.float64(), mask=mask)
    width = int(np.prod(values.shape[1:]))
    flat = pa.array(values.reshape(-1), pa.float64())
    lists = pa.FixedSizeListArray.from_arrays(flat, width)
    return pa.array(lists.to_pylist(), lists.type, mask=mask) if mask.any() else lists


def _inputs(parts: Sequence[LoggedRows]) -> Any:
    """A table's rows as one struct column; an array's rows as lists of their values."""
    import numpy as np
    import pyarrow as pa

    if parts[0].is_table:
        table = pa.concat_tables([part.data for part in parts]) if len(parts) > 1 else parts[0].data
        if table.num_columns == 0:
            return pa.array([{}] * table.num_rows, pa.struct([]))
        chunked = [column.combine_chunks() for column in table.columns]
        return pa.StructArray.from_arrays(chunked, names=table.column_names)
    return _values(
        np.concatenate([part.data for part in parts]) if len(parts) > 1 else parts[0].data
    )


def _values(array: Any) -> Any:
    """A numpy array as an Arrow column: scalars per row, or fixed-size lists of the rest."""
    import pyarrow as pa

    if array.ndim <= 1:
        return _flat(array)
    rows = array.reshape(array.shape[0], -1)
    width = rows.shape[1]
    return pa.FixedSizeListArray.from_arrays(_flat(rows.reshape(-1)), width)


def _flat(array: Any) -> Any:
    import pyarrow as pa

    if array.dtype.kind in "biuf":
        return pa.array(array)
    return pa.array([None if value is None else str(value) for value in array.tolist()])


def _error_table(entries: Sequence[ErrorEntry]) -> Any:
    import pyarrow as pa

    return pa.table(
        {
            "request_id": pa.array([e.request_id for e in entries], pa.string()),
            "time": pa.array([e.time_ms for e in entries], pa.timestamp("ms", tz="UTC")),
            "model_version": pa.array([e.model_version for e in entries], pa.string()),
            "traffic": pa.array([e.traffic for e in entries], pa.string()),
            "latency_ms": pa.array([e.latency_ms for e in entries], pa.float64()),
            "status": pa.array([e.status for e in entries], pa.int32()),
            "code": pa.array([e.code for e in entries], pa.string()),
        }
    )


def _feedback_table(entries: Sequence[FeedbackEntry]) -> Any:
    import pyarrow as pa

    ids = [pid for entry in entries for pid in entry.prediction_ids]
    labels = [label for entry in entries for label in entry.labels]
    times = [entry.time_ms for entry in entries for _ in entry.prediction_ids]
    kind = _label_type(labels)
    label_type = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64()}.get(
        kind, pa.string()
    )
    return pa.table(
        {
            "prediction_id": pa.array(ids, pa.string()),
            "label": pa.array(labels, label_type),
            "time": pa.array(times, pa.timestamp("ms", tz="UTC")),
        }
    )


def _label_type(labels: Sequence[Any]) -> str:
    """``bool``, ``int``, ``float`` or ``str``: the one type that holds every label."""
    kinds = {type(label).__name__ for label in labels}
    if kinds <= {"bool"}:
        return "bool"
    if kinds <= {"int"}:
        return "int"
    if kinds <= {"int", "float"}:
        return "float"
    return "str"
