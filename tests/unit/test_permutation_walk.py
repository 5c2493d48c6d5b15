"""The rows the sampled explainer feeds a model (loopml.models.permutation_shap._walk) are the
same whether the input is an array, a one-dtype table (moved as one array) or a table of
mixed columns (moved column by column, each keeping its dtype)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from loopml.models.permutation_shap import _walk, permutation_values

ORDER = np.array([2, 0, 1])


def test_a_numeric_table_walks_to_the_same_rows_as_its_array() -> None:
    rng = np.random.default_rng(0)
    rows, background = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    table = pd.DataFrame(rows, columns=["a", "b", "c"])
    walked = _walk(table, pd.DataFrame(background, columns=["a", "b", "c"]), ORDER, 1, 3)
    expected = _walk(rows, background, ORDER, 1, 3)
    assert list(walked.columns) == ["a", "b", "c"]
    assert walked.dtypes.tolist() == [np.dtype("float64")] * 3
    np.testing.assert_array_equal(walked.to_numpy(), expected)
    # each explained row: 4 steps x 5 background rows; step k sets the first k features of ORDER
    assert expected.shape == (2 * 4 * 5, 3)
    np.testing.assert_array_equal(expected[:5], background)
    np.testing.assert_array_equal(expected[5:10, 2], np.full(5, rows[1, 2]))
    np.testing.assert_array_equal(expected[5:10, :2], background[:, :2])


def test_a_mixed_table_keeps_each_columns_dtype_and_values() -> None:
    rows = pd.DataFrame({"n": [1.5, 2.5], "k": pd.Categorical(["x", "y"]), "i": [1, 2]})
    background = pd.DataFrame({"n": [0.0], "k": pd.Categorical(["y"], ["x", "y"]), "i": [7]})
    walked = _walk(rows, background, ORDER, 0, 2)
    assert walked.dtypes.tolist() == rows.dtypes.tolist()
    assert walked["i"].tolist() == [7, 1, 1, 1, 7, 2, 2, 2]  # "i" (2) is set first
    assert walked["n"].tolist() == [0.0, 0.0, 1.5, 1.5, 0.0, 0.0, 2.5, 2.5]
    assert walked["k"].tolist() == ["y", "y", "y", "x", "y", "y", "y", "y"]


def test_a_tables_contributions_equal_its_arrays() -> None:
    rng = np.random.default_rng(1)
    rows, background = rng.normal(size=(3, 4)), rng.normal(size=(6, 4))
    weights = np.array([[1.0], [-2.0], [0.5], [3.0]])

    def outputs(x: object) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) @ weights

    names = ["a", "b", "c", "d"]
    on_table = permutation_values(
        outputs, pd.DataFrame(rows, columns=names), pd.DataFrame(background, columns=names)
    )
    on_array = permutation_values(outputs, rows, background)
    np.testing.assert_allclose(on_table[0], on_array[0])
    np.testing.assert_allclose(on_table[0][:, :, 0], (rows - background.mean(0)) * weights.T)
