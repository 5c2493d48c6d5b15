"""Arrow ↔ numpy on the scoring path without pyarrow's pandas-importing conversions: the same
values come out, whatever the chunking, the dtype, a strided view or a gap."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from loopml.models.inputs import to_model_input
from loopml.serving.batch import _arrow_array

ARRAY = {"inputs": {"kind": "tensor", "dtype": "float64", "shape": [-1, 2]}}


def test_chunked_integer_and_float_columns_become_the_model_array() -> None:
    first = pa.table({"a": pa.array([1, 2], pa.int64()), "b": pa.array([0.5, 1.5], pa.float32())})
    second = pa.table({"a": pa.array([3], pa.int64()), "b": pa.array([2.5], pa.float32())})
    table = pa.concat_tables([first, second])
    assert table.column("a").num_chunks == 2
    got = to_model_input(ARRAY, table)
    assert got.dtype == np.float64
    assert np.array_equal(got, [[1.0, 0.5], [2.0, 1.5], [3.0, 2.5]])
    sliced = to_model_input(ARRAY, table.slice(1, 2))
    assert np.array_equal(sliced, [[2.0, 1.5], [3.0, 2.5]])


def test_an_empty_table_and_a_column_with_a_gap_convert_too() -> None:
    schema = pa.schema([("a", pa.float64()), ("b", pa.int32())])
    assert to_model_input(ARRAY, pa.Table.from_batches([], schema=schema)).shape == (0, 2)
    gappy = pa.table({"a": pa.array([1.0, None]), "b": pa.array([1, 2], pa.int32())})
    got = to_model_input(ARRAY, gappy)
    assert np.isnan(got[1, 0]) and got[0, 0] == 1.0 and np.array_equal(got[:, 1], [1, 2])


@pytest.mark.parametrize(
    "values",
    [
        np.array([0.25, -1.0, 3.0], dtype=np.float32),
        np.array([1, 2, 3], dtype=np.int64),
        np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])[:, 1],  # a strided view
        np.array([7, 0], dtype=np.uint8),
        np.array(["benign", "malignant"]),
        np.array([True, False]),
    ],
)
def test_predictions_reach_arrow_with_their_values_and_type(values: np.ndarray) -> None:
    got = _arrow_array(values)
    assert got.to_pylist() == values.tolist()
    assert got.equals(pa.array(values))
