"""A request's rows after checking, and how several requests become one model call.

Rows are a numpy array (array models) or an Arrow table of the signature's columns (table
models). A micro-batch concatenates them, turns the whole into the model's input once
(``loopml.models.inputs.to_model_input``: a DataFrame for column models) and splits the
predictions back by each request's row count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loopml.models.inputs import to_model_input

__all__ = ["Rows", "combine", "model_input", "split"]


@dataclass(frozen=True, slots=True)
class Rows:
    """One request's checked input: ``data`` is a numpy array or a ``pyarrow.Table``."""

    data: Any

    @property
    def count(self) -> int:
        return int(self.data.shape[0])  # an array's rows, or a table's (rows, columns)

    @property
    def is_table(self) -> bool:
        import numpy as np

        return not isinstance(self.data, np.ndarray)


def combine(parts: Sequence[Rows]) -> Rows:
    """The rows of several requests, in order, as one (no copy for a single request)."""
    if len(parts) == 1:
        return parts[0]
    if parts[0].is_table:
        import pyarrow as pa

        return Rows(pa.concat_tables([part.data for part in parts]))
    import numpy as np

    return Rows(np.concatenate([part.data for part in parts]))


def model_input(rows: Rows, signature: Mapping[str, Any] | None) -> Any:
    """What the model's ``predict`` takes: the array as is, a table as the signature says."""
    if rows.is_table:
        return to_model_input(signature, rows.data, source="The request")
    return rows.data


def split(predictions: Any, counts: Sequence[int]) -> list[Any]:
    """``predictions`` for a batch, cut into each request's share (views, not copies)."""
    pieces: list[Any] = []
    start = 0
    for count in counts:
        pieces.append(predictions[start : start + count])
        start += count
    return pieces
