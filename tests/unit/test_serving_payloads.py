"""Request bodies → checked model input: MLflow's four JSON formats, CSV and Open Inference
Protocol tensors, against table and array signatures — and every wrong body refused with a
4xx that names the field."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml.core.errors import InvalidInputError, LoopMLError

if TYPE_CHECKING:
    from loopml.serving.rows import Rows
    from loopml.serving.signatures import InputSpec

# loopml.serving is imported by the tests, not when they are collected: tests/unit/test_core.py
# checks the names the loopml package shows, and an imported subpackage is one of them.

TABLE = {
    "inputs": {
        "kind": "columns",
        "columns": [
            {"name": "age", "type": "long"},
            {"name": "income", "type": "double"},
            {"name": "city", "type": "string"},
            {"name": "member", "type": "boolean"},
        ],
    }
}
ARRAY = {"inputs": {"kind": "tensor", "dtype": "float64", "shape": [-1, 3]}}
ARRAY_1 = {"inputs": {"kind": "tensor", "dtype": "float64", "shape": [-1, 1]}}
COLUMNS = ["age", "income", "city", "member"]
ROWS = [[41, 52000.5, "Oslo", True], [29, 31000.0, "Lima", False]]
JSON_TYPE = "application/json"
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
MISMATCH, INVALID, TOO_LARGE = "input_mismatch", "invalid_input", "payload_too_large"


def table_spec(*, allow_missing: bool = False) -> InputSpec:
    from loopml.serving.signatures import input_spec

    return input_spec(TABLE, allow_missing=allow_missing)


def array_spec() -> InputSpec:
    from loopml.serving.signatures import input_spec

    return input_spec(ARRAY)


def parse(body: Any, spec: InputSpec, *, max_rows: int = 1000, media: str = JSON_TYPE) -> Rows:
    from loopml.serving.payloads import parse_invocation

    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_invocation(data, media, spec, max_rows=max_rows)


def table_rows(rows: Rows) -> list[dict[str, Any]]:
    assert rows.is_table
    result: list[dict[str, Any]] = rows.data.to_pylist()
    return result


def refused(body: Any, spec: InputSpec, code: str, text: str, **kw: Any) -> str:
    """The message of the error ``parse`` raises, after checking its code and text."""
    with pytest.raises(LoopMLError) as caught:
        parse(body, spec, **kw)
    assert (caught.value.code, text in caught.value.message) == (code, True), caught.value
    return caught.value.message


# -- the formats ------------------------------------------------------------------------------


def test_every_json_format_and_csv_give_the_same_table() -> None:
    records = [dict(zip(COLUMNS, row, strict=True)) for row in ROWS]
    expected = records
    bodies = [
        {"dataframe_split": {"columns": COLUMNS, "data": ROWS}},
        {"dataframe_split": {"columns": COLUMNS[::-1], "data": [row[::-1] for row in ROWS]}},
        {"dataframe_records": records},
        {"instances": records},
        {"inputs": {name: [row[i] for row in ROWS] for i, name in enumerate(COLUMNS)}},
        {"inputs": ROWS},  # rows in the signature's column order
    ]
    for body in bodies:
        assert table_rows(parse(body, table_spec())) == expected, body
    csv = b"age,income,city,member\n41,52000.5,Oslo,true\n29,31000.0,Lima,false\n"
    assert table_rows(parse(csv, table_spec(), media="text/csv")) == expected


def test_array_formats_build_a_numpy_array_of_the_signature_dtype() -> None:
    data = [[1, 2.5, 3], [4, 5, 6.5]]
    bodies = [
        {"inputs": data},
        {"instances": data},
        {"inputs": {"x": data}},
        {"dataframe_split": {"columns": ["a", "b", "c"], "data": data}},
        {"dataframe_records": [{"a": 1, "b": 2.5, "c": 3}, {"a": 4, "b": 5, "c": 6.5}]},
    ]
    for body in bodies:
        rows = parse(body, array_spec())
        assert isinstance(rows.data, np.ndarray) and rows.data.dtype == np.float64
        assert rows.data.tolist() == [[1.0, 2.5, 3.0], [4.0, 5.0, 6.5]], body
    csv = parse(b"a,b,c\n1,2.5,3\n4,5,6.5\n", array_spec(), media="text/csv; header=present")
    assert csv.data.tolist() == [[1.0, 2.5, 3.0], [4.0, 5.0, 6.5]]
    csv = parse(b"1,2.5,3\n4,5,6.5\n", array_spec(), media="text/csv")
    assert csv.data.tolist() == [[1.0, 2.5, 3.0], [4.0, 5.0, 6.5]]


def test_a_csv_for_an_array_model_has_no_header_unless_the_content_type_says_so() -> None:
    one_line = parse(b"1,2.5,3", array_spec(), media="text/csv")  # once read as a header: 0 rows
    assert one_line.data.tolist() == [[1.0, 2.5, 3.0]]
    message = refused(b"a,b,c\n1,2,3\n", array_spec(), MISMATCH, "text/csv row 1 (value 1): 'a'",
                      media="text/csv")  # fmt: skip
    assert "header=present" in message
    absent = parse(b"1,2,3\n", array_spec(), media="text/csv; header=absent")
    assert absent.count == 1
    assert parse(b"", array_spec(), media="text/csv").count == 0  # no header, no rows
    refused(b"1,2,3\n", array_spec(), INVALID, "header='maybe'", media="text/csv; header=maybe")
    refused(b"41,1.0,Oslo,true\n", table_spec(), INVALID, "header=absent, but this model takes",
            media="text/csv; header=absent")  # fmt: skip


def test_whole_floats_are_taken_for_integer_columns() -> None:
    rows = parse(
        {"dataframe_split": {"columns": COLUMNS, "data": [[41.0, 1, "a", True]]}}, table_spec()
    )
    assert table_rows(rows)[0]["age"] == 41


def test_empty_bodies_of_rows_are_zero_rows() -> None:
    assert parse({"inputs": []}, array_spec()).count == 0
    assert parse({"dataframe_records": []}, table_spec()).count == 0
    assert parse({"dataframe_split": {"columns": COLUMNS, "data": []}}, table_spec()).count == 0
    header_only = ",".join(COLUMNS).encode() + b"\n"  # once a 500 (found by schemathesis)
    assert parse(header_only, table_spec(), media="text/csv").count == 0


def test_missing_values_pass_only_when_the_model_takes_them() -> None:
    body = {"dataframe_split": {"columns": COLUMNS, "data": [[None, None, "x", True]]}}
    assert table_rows(parse(body, table_spec(allow_missing=True)))[0]["age"] is None
    refused(
        body,
        table_spec(),
        MISMATCH,
        "dataframe_split.data[0][0] (column 'age'): a missing value",
    )
    refused(
        {"inputs": [[1, None, 3]]},
        array_spec(),
        MISMATCH,
        "inputs[0][1]: a missing value",
    )
    refused(b"1,,3\n", array_spec(), MISMATCH, "a missing value", media="text/csv")


def test_an_empty_csv_cell_is_a_missing_value_like_a_json_null() -> None:
    header = b"age,income,city,member\n"
    for cells in (b"41,1.0,,true\n", b'41,1.0,"",true\n'):
        refused(
            header + cells,
            table_spec(),
            MISMATCH,
            "text/csv row 1 (column 'city'): a missing value",
            media="text/csv",
        )
        rows = parse(header + cells, table_spec(allow_missing=True), media="text/csv")
        assert table_rows(rows)[0]["city"] is None
    null = {"dataframe_split": {"columns": COLUMNS, "data": [[41, 1.0, None, True]]}}
    assert table_rows(parse(null, table_spec(allow_missing=True)))[0]["city"] is None


def test_the_signature_says_per_column_whether_a_missing_value_may_reach_the_model() -> None:
    from loopml.serving.signatures import input_spec

    columns = [dict(c, missing=c["name"] == "income") for c in TABLE["inputs"]["columns"]]
    spec = input_spec({"inputs": {"kind": "columns", "columns": columns}}, allow_missing=False)
    body = {"dataframe_split": {"columns": COLUMNS, "data": [[41, None, "x", True]]}}
    assert table_rows(parse(body, spec))[0]["income"] is None
    body = {"dataframe_split": {"columns": COLUMNS, "data": [[41, 1.0, None, True]]}}
    refused(body, spec, MISMATCH, "(column 'city'): a missing value")
    # the flag wins over what the server would guess from the model's tags
    tensor = {"inputs": {**ARRAY["inputs"], "missing": True}}
    assert np.isnan(parse({"inputs": [[1, None, 3]]}, input_spec(tensor)).data[0, 1])


# -- refusals ---------------------------------------------------------------------------------


def test_column_names_are_checked_by_position_and_by_name() -> None:
    spec = table_spec()
    refused(
        {"dataframe_split": {"columns": ["age", "income", "town", "member"], "data": ROWS}},
        spec,
        MISMATCH,
        "dataframe_split.columns[2]: expected 'city', got 'town'",
    )
    refused(
        {"dataframe_split": {"columns": ["age", "income", "city"], "data": [r[:3] for r in ROWS]}},
        spec,
        MISMATCH,
        "dataframe_split.columns: missing column 'member'",
    )
    refused(
        {"dataframe_split": {"columns": [*COLUMNS, "extra"], "data": [[*r, 1] for r in ROWS]}},
        spec,
        MISMATCH,
        "dataframe_split.columns[4]: unknown column 'extra'",
    )
    refused(
        {"dataframe_split": {"columns": ["age", "age", "city", "member"], "data": ROWS}},
        spec,
        MISMATCH,
        "dataframe_split.columns[1]: column 'age' is listed twice",
    )
    refused(
        {"dataframe_records": [{"age": 1, "income": 2.0, "city": "x"}]},
        spec,
        MISMATCH,
        "dataframe_records[0]: missing column 'member'",
    )
    refused(
        b"age,income,city\n1,2,x\n",
        spec,
        MISMATCH,
        "text/csv header: missing column 'member'",
        media="text/csv",
    )


@pytest.mark.parametrize(
    ("row", "text"),
    [
        ([True, 1.0, "x", True], "[0][0] (column 'age'): expected a whole number (long), got true"),
        (
            [1.5, 1.0, "x", True],
            "[0][0] (column 'age'): expected a whole number (long), got the number 1.5",
        ),
        (
            [1, "rich", "x", True],
            "[0][1] (column 'income'): expected a number (double), got the string 'rich'",
        ),
        ([1, 1.0, 7, True], "[0][2] (column 'city'): expected a string (string), got the number 7"),
        (
            [1, 1.0, "x", 1],
            "[0][3] (column 'member'): expected true or false (boolean), got the number 1",
        ),
        ([2**64, 1.0, "x", True], "(column 'age'): 18446744073709551616 is out of range"),
        ([1, [1.0], "x", True], "expected a number (double), got a list of 1 values"),
    ],
)
def test_a_value_of_the_wrong_type_is_named_with_its_row_and_column(
    row: list[Any], text: str
) -> None:
    body = {"dataframe_split": {"columns": COLUMNS, "data": [row]}}
    message = refused(body, table_spec(), MISMATCH, text)
    assert message.startswith("dataframe_split.data")


def test_array_shape_and_value_problems_are_named() -> None:
    spec = array_spec()
    refused(
        {"inputs": [[1, 2]]},
        spec,
        MISMATCH,
        "inputs: expected shape [-1, 3] (rows of 3 values each), got [1, 2]",
    )
    refused(
        {"inputs": [[1, 2, 3], [1, 2]]},
        spec,
        MISMATCH,
        "inputs[1]: 2 values, but inputs[0] has 3",
    )
    refused(
        {"inputs": [[1, 2, 3], 4]},
        spec,
        MISMATCH,
        "inputs[1]: the number 4, but inputs[0] is a list",
    )
    refused(
        {"inputs": [[1, "2", 3]]},
        spec,
        MISMATCH,
        "inputs[0][1]: expected a number, got the string '2'",
    )
    refused({"inputs": [[True, False, True]]}, spec, MISMATCH, "expected a number, got true")
    refused({"inputs": [1, 2, 3]}, spec, MISMATCH, "got [3]")
    refused(
        {"inputs": {"a": [[1, 2, 3]], "b": [[1, 2, 3]]}},
        spec,
        INVALID,
        "this model takes one tensor",
    )
    refused(
        b"a,b\n1,2\n",
        spec,
        MISMATCH,
        "text/csv header: 2 columns, but the model takes 3",
        media="text/csv; header=present",
    )
    refused(
        b"1,2\n",
        spec,
        MISMATCH,
        "text/csv row 1: 2 columns, but the model takes 3",
        media="text/csv",
    )
    refused(
        b"a,b,c\n1,x,3\n",
        spec,
        MISMATCH,
        "text/csv row 1 (column 'b'): 'x'",
        media="text/csv; header=present",
    )


def test_malformed_unknown_and_oversized_bodies_are_refused() -> None:
    spec = table_spec()
    refused(b'{"inputs": [1,', spec, INVALID, "The body is not valid JSON")
    refused(b"", spec, INVALID, "The body is empty")
    refused([1, 2], spec, INVALID, "must be a JSON object")
    refused({"inputs": [], "instances": []}, spec, INVALID, "send exactly one of")
    refused({"params": {}}, spec, INVALID, "params: unknown key (model parameters")
    refused({"dataframe_split": [1]}, spec, INVALID, "dataframe_split: expected an object")
    refused(
        {"dataframe_split": {"columns": COLUMNS, "data": ROWS * 6}},
        spec,
        TOO_LARGE,
        "dataframe_split.data: 12 rows",
        max_rows=10,
    )
    refused({"inputs": [[1, 2, 3]] * 11}, array_spec(), TOO_LARGE, "--max-rows", max_rows=10)
    refused({"inputs": []}, spec, "unsupported_media_type", "'text/plain'", media="text/plain")
    cr_in_header = b"age,in\rcome,city,member\n41,1.0,Oslo,true\n"  # once a 500 (schemathesis)
    refused(cr_in_header, spec, INVALID, "the header line is not CSV", media="text/csv")


def test_refusals_carry_the_http_status_of_their_kind() -> None:
    from loopml.serving import errors

    statuses = {
        error.code: error.http_status
        for error in (
            InvalidInputError,
            errors.UnsupportedMediaTypeError,
            errors.InputMismatchError,
            errors.PayloadTooLargeError,
            errors.PredictionFailedError,
            errors.ModelNotReadyError,
        )
    }
    assert statuses == {
        INVALID: 400,
        "unsupported_media_type": 415,
        MISMATCH: 422,
        TOO_LARGE: 413,
        "prediction_failed": 422,
        "model_not_ready": 503,
    }


# -- Open Inference Protocol ------------------------------------------------------------------


def infer(body: Any, spec: InputSpec, *, max_rows: int = 1000) -> Rows:
    from loopml.serving.oip import parse_infer

    return parse_infer(json.dumps(body).encode(), JSON_TYPE, spec, max_rows=max_rows).rows


def test_infer_tensors_become_the_same_input_as_the_mlflow_formats() -> None:
    flat = {"name": "inputs", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}
    nested = {**flat, "data": [[1, 2, 3], [4, 5, 6]]}
    for tensor in (flat, nested):
        rows = infer({"inputs": [tensor]}, array_spec())
        assert rows.data.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    columns = [
        {"name": "member", "shape": [2], "datatype": "BOOL", "data": [True, False]},
        {"name": "age", "shape": [2, 1], "datatype": "INT64", "data": [[41], [29]]},
        {"name": "income", "shape": [2], "datatype": "FP64", "data": [52000.5, 31000.0]},
        {"name": "city", "shape": [2], "datatype": "BYTES", "data": ["Oslo", "Lima"]},
    ]
    assert table_rows(infer({"inputs": columns}, table_spec())) == [
        dict(zip(COLUMNS, row, strict=True)) for row in ROWS
    ]


def test_infer_problems_are_named() -> None:
    tensor = {"name": "inputs", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}
    cases: list[tuple[Any, str, str]] = [
        (
            {"inputs": [{**tensor, "shape": [2, 3]}]},
            MISMATCH,
            "inputs[0].data: 3 values, but shape [2, 3] holds 6",
        ),
        (
            {"inputs": [{**tensor, "name": "x"}]},
            MISMATCH,
            "inputs[0].name: this model takes one tensor, 'inputs'",
        ),
        (
            {"inputs": [{**tensor, "datatype": "BOOL"}]},
            MISMATCH,
            "inputs[0].datatype: BOOL",
        ),
        ({"inputs": [{**tensor, "shape": [-1, 3]}]}, INVALID, "inputs[0].shape"),
        (
            {"inputs": [{k: v for k, v in tensor.items() if k != "data"}]},
            INVALID,
            "inputs[0].data: missing",
        ),
        (
            {"inputs": [tensor], "outputs": [{"name": "proba"}]},
            MISMATCH,
            "outputs[0].name",
        ),
        ({"inputs": [tensor], "extra": 1}, INVALID, "extra: unknown key"),
        (
            {"inputs": [{**tensor, "shape": [20, 3], "data": [1] * 60}]},
            TOO_LARGE,
            "inputs[0].shape[0]: 20 rows",
        ),
    ]
    for body, code, text in cases:
        with pytest.raises(LoopMLError) as caught:
            infer(body, array_spec(), max_rows=10)
        assert (caught.value.code, text in caught.value.message) == (code, True), caught.value
    column = {"name": "age", "shape": [1], "datatype": "FP64", "data": [1]}
    with pytest.raises(LoopMLError, match="inputs: missing column 'income'"):
        infer({"inputs": [column]}, table_spec())
    others = [
        {"name": name, "shape": [1], "datatype": kind, "data": [value]}
        for name, kind, value in (
            ("income", "FP64", 1.0),
            ("city", "BYTES", "x"),
            ("member", "BOOL", True),
        )
    ]
    with pytest.raises(LoopMLError, match=r"inputs\[0\].datatype: BYTES, but column 'age'"):
        infer({"inputs": [{**column, "datatype": "BYTES"}, *others]}, table_spec())


def test_infer_data_must_hold_values_of_the_declared_datatype() -> None:
    uint8 = {"inputs": {"kind": "tensor", "dtype": "uint8", "shape": [-1, 1]}}
    tensor = {"name": "inputs", "shape": [2, 1], "datatype": "UINT8", "data": [3, 500]}
    cases: list[tuple[dict[str, Any], Any, str]] = [
        (
            tensor,
            uint8,
            "inputs[0].data[1]: the number 500 is not a UINT8 value; UINT8 data "
            "is whole numbers from 0 to 255",
        ),
        ({**tensor, "data": [-2, 1]}, uint8, "inputs[0].data[0]: the number -2 is not a UINT8"),
        ({**tensor, "datatype": "INT64", "data": [1, 5.1]}, ARRAY_1, "the number 5.1 is not a"),
        ({**tensor, "datatype": "FP64", "data": [1, "x"]}, ARRAY_1, "the string 'x' is not a FP64"),
        ({**tensor, "datatype": "FP32", "data": [1, 1e300]}, ARRAY_1, "1e+300 is not a FP32"),
    ]
    from loopml.serving.signatures import input_spec

    for body, signature, text in cases:
        with pytest.raises(InvalidInputError) as caught:
            infer({"inputs": [body]}, input_spec(signature))
        assert caught.value.http_status == 400 and text in caught.value.message, caught.value
    column = {"name": "age", "shape": [1], "datatype": "INT32", "data": [2**40]}
    others = [
        {"name": "income", "shape": [1], "datatype": "FP64", "data": [1.0]},
        {"name": "city", "shape": [1], "datatype": "BYTES", "data": ["x"]},
        {"name": "member", "shape": [1], "datatype": "BOOL", "data": [True]},
    ]
    with pytest.raises(InvalidInputError, match=r"inputs\[0\].data\[0\]: the number 1099511627776"):
        infer({"inputs": [column, *others]}, table_spec())
    whole = infer(
        {"inputs": [{**tensor, "datatype": "INT64", "data": [1, 5.0]}]}, input_spec(ARRAY_1)
    )
    assert whole.data.tolist() == [[1.0], [5.0]]


def test_a_model_that_takes_strings_is_served_through_both_protocols() -> None:
    from loopml.serving.signatures import input_spec

    spec = input_spec({"inputs": {"kind": "tensor", "dtype": "str", "shape": [-1, 2]}})
    tensor = {"name": "inputs", "shape": [2, 2], "datatype": "BYTES", "data": ["a", "b", "c", "d"]}
    for rows in (
        infer({"inputs": [tensor]}, spec),
        parse({"inputs": [["a", "b"], ["c", "d"]]}, spec),
        parse(b"a,b\nc,d\n", spec, media="text/csv"),
    ):
        assert rows.data.dtype == object and rows.data.tolist() == [["a", "b"], ["c", "d"]]
    with pytest.raises(LoopMLError, match=r"inputs\[0\].datatype: FP64, but the model takes BYTES"):
        infer({"inputs": [{**tensor, "datatype": "FP64"}]}, spec)
    refused({"inputs": [["a", 1]]}, spec, MISMATCH, "inputs[0][1]: expected a string")
    refused({"inputs": [["a", None]]}, spec, MISMATCH, "inputs[0][1]: a missing value")
    refused(b"a,\n", spec, MISMATCH, "text/csv row 1 (value 2): a missing value", media="text/csv")


# -- any body at all --------------------------------------------------------------------------

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=16,
)
_NAMES = st.sampled_from([*COLUMNS, "x"])
_BODIES = (
    _JSON
    | st.fixed_dictionaries({"inputs": _JSON})
    | st.builds(lambda key, value: {key: value}, st.sampled_from(FORMATS), _JSON)
    | st.builds(
        lambda columns, data: {"dataframe_split": {"columns": columns, "data": data}},
        st.lists(_NAMES, max_size=5),
        st.lists(st.lists(_SCALARS, max_size=5), max_size=3),
    )
    | st.builds(
        lambda records: {"dataframe_records": records},
        st.lists(st.dictionaries(_NAMES, _SCALARS), max_size=3),
    )
)


@settings(max_examples=300, deadline=None)
@given(body=_BODIES, table=st.booleans())
def test_any_json_body_gives_rows_or_a_4xx_error(body: Any, table: bool) -> None:
    spec = table_spec() if table else array_spec()
    try:
        rows = parse(body, spec)
    except LoopMLError as error:
        assert 400 <= error.http_status < 500, error
    else:
        assert rows.count >= 0


_TENSORS = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["inputs", *COLUMNS]),
        "shape": st.lists(st.integers(-1, 4), max_size=3),
        "datatype": st.sampled_from(["FP64", "INT64", "BOOL", "BYTES", "FP8"]),
        "data": _JSON,
    }
)


@settings(max_examples=300, deadline=None)
@given(
    body=_JSON | st.fixed_dictionaries({"inputs": st.lists(_TENSORS, max_size=4)}),
    table=st.booleans(),
)
def test_any_infer_body_gives_rows_or_a_4xx_error(body: Any, table: bool) -> None:
    spec = table_spec() if table else array_spec()
    try:
        rows = infer(body, spec)
    except LoopMLError as error:
        assert 400 <= error.http_status < 500, error
    else:
        assert rows.count >= 0
