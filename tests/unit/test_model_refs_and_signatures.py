"""Model references as people type them, and signatures inferred from input examples and
checked against them."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from loopml.core.errors import InvalidInputError
from loopml.core.refs import ModelRef, check_alias, parse_model_ref
from loopml.models.signature import check_example, example_to_json, infer_signature


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("churn", ModelRef("churn")),
        ("churn@latest", ModelRef("churn")),
        ("churn@3", ModelRef("churn", version=3)),
        ("churn@champion", ModelRef("churn", alias="champion")),
        ("models:/churn@champion", ModelRef("churn", alias="champion")),
        ("models:/churn/3", ModelRef("churn", version=3)),
        ("models:/churn", ModelRef("churn")),
    ],
)
def test_model_references_parse(text: str, expected: ModelRef) -> None:
    assert parse_model_ref(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"write 'NAME'"),
        ("@3", r"the name is empty"),
        ("churn@0", r"versions start at 1"),
        ("churn@9lives", r"Invalid alias '9lives'"),
        ("churn@a b", r"Invalid alias 'a b'"),
    ],
)
def test_bad_model_references_say_what_is_allowed(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_model_ref(text)


def test_latest_is_not_an_alias() -> None:
    with pytest.raises(InvalidInputError, match=r"'latest' is reserved"):
        check_alias("latest")
    assert check_alias("challenger-2") == "challenger-2"


def test_a_table_example_gives_columns_and_predictions_a_tensor() -> None:
    example = pa.table({"age": [31, 45], "income": [1.5, 2.5], "city": ["a", "b"]})
    signature = infer_signature(example, np.array([0, 1]))
    assert signature == {
        "inputs": {
            "kind": "columns",
            "columns": [
                {"name": "age", "type": "long"},
                {"name": "income", "type": "double"},
                {"name": "city", "type": "string"},
            ],
        },
        "outputs": {"kind": "tensor", "dtype": "int64", "shape": [-1]},
    }
    check_example(signature, {"age": [1], "income": [2.0], "city": ["c"]})  # same columns
    assert example_to_json(example) == {
        "columns": ["age", "income", "city"],
        "data": [[31, 1.5, "a"], [45, 2.5, "b"]],
    }


def test_an_example_that_does_not_match_the_signature_is_named() -> None:
    signature = infer_signature(np.zeros((3, 4)))
    assert signature["inputs"] == {"kind": "tensor", "dtype": "float64", "shape": [-1, 4]}
    with pytest.raises(InvalidInputError, match=r"input shape is \[-1, 4\], the example's is"):
        check_example(signature, np.zeros((3, 5)))
    columns = infer_signature({"a": [1.0], "b": [2]})
    with pytest.raises(InvalidInputError, match=r"Column 'b' is double in the example but long"):
        check_example(columns, {"a": [1.0], "b": [2.5]})
    with pytest.raises(InvalidInputError, match=r"has no column 'b'"):
        check_example(columns, {"a": [1.0]})
    with pytest.raises(InvalidInputError, match=r"expects columns but the example is tensor"):
        check_example(columns, np.zeros((1, 2)))


def test_rollback_walks_back_through_moves_not_through_rollbacks() -> None:
    from loopml.core.entities import AliasChange
    from loopml.models.registry import previous_versions

    def moves(*targets: int | None) -> list[AliasChange]:
        changes, current = [], None
        for at, target in enumerate(targets):
            changes.append(AliasChange("m", "champion", current, target, at))
            current = target
        return changes

    assert previous_versions(moves(1, 2, 3)) == [1, 2, 3]
    assert previous_versions(moves(1, 2, 3, 2)) == [1, 2]  # 3 → 2 was a rollback
    assert previous_versions(moves(1, 2, 3, 2, 1)) == [1]
    assert previous_versions(moves(1, 2, None, 5)) == [5]  # unset starts afresh
    assert previous_versions(moves(1, 3, 2)) == [1, 3, 2]  # 3 → 2 moved on, not back


def test_string_predictions_and_string_arrays_have_a_text_dtype() -> None:
    labels = np.array(["no", "yes"], dtype=object)  # what a classifier on string labels gives
    signature = infer_signature({"a": [1.0, 2.0]}, labels)
    assert signature["outputs"] == {"kind": "tensor", "dtype": "str", "shape": [-1]}
    words = infer_signature(np.array([["red", "s"], ["blue", "m"]]))
    assert words["inputs"] == {"kind": "tensor", "dtype": "str", "shape": [-1, 2]}
    check_example(words, np.array([["x", "y"]], dtype=object))


def test_an_array_of_mixed_values_is_named_as_what_it_is() -> None:
    mixed = np.array([["a", 1.0]], dtype=object)
    with pytest.raises(InvalidInputError, match=r"The input example: a numpy array of mixed"):
        infer_signature(mixed)
    with pytest.raises(InvalidInputError, match=r"The model's predictions: a numpy array of"):
        infer_signature({"a": [1.0]}, np.array(["a", 1], dtype=object))


class _Imputing:
    """A model that fills a missing 'a' itself but fails on a missing 'b'."""

    def predict(self, frame: object) -> np.ndarray:
        import pandas as pd

        assert isinstance(frame, pd.DataFrame)
        if frame["b"].isna().any():
            raise ValueError("Input contains NaN")
        return np.zeros(len(frame))


def test_registration_asks_the_model_which_inputs_may_be_missing() -> None:
    from loopml.models.missing_values import mark_missing

    example = {"a": [1.0, 2.0], "b": ["x", "y"], "c": [1, 2]}
    signature = mark_missing(infer_signature(example), _Imputing().predict, example)
    flags = {c["name"]: c["missing"] for c in signature["inputs"]["columns"]}
    assert flags == {"a": True, "b": False, "c": True}

    def no_nan(array: np.ndarray) -> np.ndarray:
        if np.isnan(array).any():
            raise ValueError("Input contains NaN")
        return array[:, 0]

    tensor = np.ones((3, 2))
    assert mark_missing(infer_signature(tensor), no_nan, tensor)["inputs"]["missing"] is False
    nan_ok = mark_missing(infer_signature(tensor), lambda x: x[:, 0], tensor)
    assert nan_ok["inputs"]["missing"] is True


def test_a_missing_value_the_model_does_not_take_is_refused_by_row_and_column() -> None:
    from loopml.models.inputs import to_model_input

    signature = {
        "inputs": {
            "kind": "columns",
            "columns": [
                {"name": "a", "type": "double", "missing": True},
                {"name": "b", "type": "double", "missing": False},
            ],
        }
    }
    table = pa.table({"a": [None, 1.0, 2.0], "b": [1.0, 2.0, float("nan")]})
    with pytest.raises(InvalidInputError, match=r"scores.csv: row 12, column 'b': a missing"):
        to_model_input(signature, table, source="scores.csv", first_row=10)
    assert to_model_input(signature, table.slice(0, 2))["a"].isna().tolist() == [True, False]


def test_a_stored_example_is_read_back_in_the_signatures_types() -> None:
    import pandas as pd

    from loopml.models.inputs import example_input

    frame = pd.DataFrame(
        {
            "when": pd.to_datetime(["2024-05-01T10:00:00", "2024-05-02T00:00:00"]),
            "visits": pd.array([None, 3], dtype="Int64"),
            "word": ["a", None],
        }
    )
    signature = infer_signature(frame)
    stored = example_to_json(frame)  # what input_example.json holds: text for the datetime
    assert stored["data"][0] == ["2024-05-01T10:00:00", None, "a"]
    row = example_input(signature, stored)
    assert str(row["when"].dtype).startswith("datetime64") and row["when"][0].hour == 10
    assert row["visits"].isna().tolist() == [True] and list(row["word"]) == ["a"]
    words = {"inputs": {"kind": "tensor", "dtype": "str", "shape": [-1, 1]}}
    assert example_input(words, {"inputs": [["x"], ["y"]]}).dtype == object


def test_only_losing_missing_values_is_a_signature_change() -> None:
    from loopml.models.compare import signature_changes

    def tensor(missing: bool) -> dict[str, object]:
        return {"inputs": {"kind": "tensor", "dtype": "float64", "shape": [-1, 4],
                           "missing": missing}}  # fmt: skip

    def columns(missing: bool) -> dict[str, object]:
        column = {"name": "a", "type": "double", "missing": missing}
        return {"inputs": {"kind": "columns", "columns": [column]}}

    assert signature_changes(tensor(False), tensor(True)) == {"changed": False, "changes": []}
    assert signature_changes(tensor(True), tensor(False))["changes"] == [
        "inputs: missing values no longer taken"
    ]
    assert signature_changes(columns(False), columns(True))["changes"] == []
    assert signature_changes(columns(True), columns(False))["changes"] == [
        "inputs: column 'a' no longer takes missing values"
    ]
