"""Whether a model predicts when an input is missing — found by asking it, not its tags.

A scikit-learn pipeline whose imputer fills the gaps carries the tags of its last step ("no
missing values"), and a function model has no tags at all. So at registration the model is
asked: the first row of the input example, with one input missing at a time (null in a
column, NaN in an array), built the way the model server and batch scoring build their input
(:func:`loopml.models.inputs.to_model_input`). The answer is recorded in the signature as a
``missing`` flag per column (one flag for a tensor)::

    {"kind": "columns", "columns": [{"name": "bill_length_mm", "type": "double",
                                     "missing": true}, ...]}
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

from loopml.models.inputs import to_model_input
from loopml.models.signature import TEXT_DTYPE, example_table

__all__ = ["mark_missing"]

Predict = Callable[[Any], Any]


def mark_missing(signature: Mapping[str, Any], predict: Predict, example: Any) -> dict[str, Any]:
    """``signature`` with its inputs' ``missing`` flags set from what ``predict`` does with
    the first row of ``example`` when an input is missing."""
    inputs = dict(signature["inputs"])
    if inputs.get("kind") == "columns":
        inputs["columns"] = _column_flags(inputs, predict, example)
    elif inputs.get("kind") == "tensor":
        inputs["missing"] = _tensor_flag(inputs, predict, example)
    return {**signature, "inputs": inputs}


def _column_flags(inputs: Mapping[str, Any], predict: Predict, example: Any) -> list[Any]:
    import pyarrow as pa

    signature = {"inputs": inputs}
    table = example_table(example)
    columns = [dict(column) for column in inputs.get("columns", [])]
    if table is None or table.num_rows == 0:
        return columns
    first = table.slice(0, 1)

    def with_gap(name: str) -> pa.Table:
        index = first.schema.get_field_index(name)
        return first.set_column(index, name, pa.nulls(1, first.schema.field(index).type))

    names = [column["name"] for column in columns if column["name"] in first.column_names]
    probes = {name: with_gap(name) for name in names}
    if names and _predicts(predict, to_model_input(signature, pa.concat_tables(probes.values()))):
        taken = set(names)  # one call answers for every column
    else:
        taken = {n for n in names if _predicts(predict, to_model_input(signature, probes[n]))}
    for column in columns:
        column["missing"] = column["name"] in taken
    return columns


def _tensor_flag(inputs: Mapping[str, Any], predict: Predict, example: Any) -> bool:
    import numpy as np

    array = np.asarray(example)
    if array.ndim == 0 or len(array) == 0:
        return False
    if inputs.get("dtype") == TEXT_DTYPE:
        row = array[:1].astype(object)
        gap: Any = None
    elif array.dtype.kind == "f":
        row, gap = array[:1].copy(), np.nan
    else:
        return False  # an integer or boolean array has no way to say "missing"
    width = row.shape[1] if row.ndim == 2 else 1
    probe = np.repeat(row, width, axis=0)
    for index in range(width):
        if row.ndim == 2:
            probe[index, index] = gap
        else:
            probe[index] = gap
    return _predicts(predict, probe)


def _predicts(predict: Predict, inputs: Any) -> bool:
    """Whether ``predict`` gives one prediction per row without raising (warnings about the
    probe's gaps, such as unknown categories, are the model's business and stay quiet)."""
    import numpy as np

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            output = np.asarray(predict(inputs))
    except Exception:  # any failure means: not with a missing value
        return False
    return output.ndim > 0 and output.shape[0] == len(inputs)
