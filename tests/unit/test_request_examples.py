"""The requests ``loopml serve`` prints once ready: bodies that fit the model's signature,
quoted for a shell."""

from __future__ import annotations

import json
import shlex

from loopml.serving.request_examples import example_requests, example_row, oip_body
from loopml.serving.signatures import input_spec

TABLE = {
    "inputs": {
        "kind": "columns",
        "columns": [
            {"name": "city", "type": "string"},
            {"name": "rooms", "type": "long"},
            {"name": "built", "type": "datetime"},
        ],
    }
}
ARRAY = {"inputs": {"kind": "tensor", "dtype": "float64", "shape": [-1, 3]}}


def _bodies(lines: list[str]) -> list[tuple[str, object]]:
    """What a shell would send: each line's URL and JSON body."""
    sent = []
    for line in lines:
        words = shlex.split(line)
        assert words[:2] == ["curl", "-s"] and "Content-Type: application/json" in words
        sent.append((words[2], json.loads(words[words.index("-d") + 1])))
    return sent


def test_a_table_model_gets_its_columns_by_name_from_the_first_complete_example_row() -> None:
    spec = input_spec(TABLE)
    example = {
        "columns": ["city", "rooms", "built"],
        "data": [[None, 2, "2020-01-01T00:00:00"], ["O'Brien Town", 3, "2021-05-01T00:00:00"]],
    }
    lines = example_requests(spec, example, url="http://127.0.0.1:8080", name="homes")
    (invocations, split), (infer, oip) = _bodies(lines)
    assert invocations == "http://127.0.0.1:8080/invocations"
    assert split == {
        "dataframe_split": {
            "columns": ["city", "rooms", "built"],
            "data": [["O'Brien Town", 3, "2021-05-01T00:00:00"]],
        }
    }
    assert infer == "http://127.0.0.1:8080/v2/models/homes/infer"
    assert oip == {
        "inputs": [
            {"name": "city", "shape": [1], "datatype": "BYTES", "data": ["O'Brien Town"]},
            {"name": "rooms", "shape": [1], "datatype": "INT64", "data": [3]},
            {"name": "built", "shape": [1], "datatype": "BYTES", "data": ["2021-05-01T00:00:00"]},
        ]
    }


def test_an_array_model_gets_one_row_of_values() -> None:
    spec = input_spec(ARRAY)
    lines = example_requests(spec, {"inputs": [[1.5, 2.0, 3.0]]}, url="http://h:1", name="m")
    (_, invocations), (_, oip) = _bodies(lines)
    assert invocations == {"inputs": [[1.5, 2.0, 3.0]]}
    assert oip == {
        "inputs": [{"name": "inputs", "shape": [1, 3], "datatype": "FP64", "data": [1.5, 2.0, 3.0]}]
    }


def test_without_an_example_placeholders_of_each_type_fill_the_row() -> None:
    assert example_row(input_spec(TABLE), None) == ["text", 0, "2026-01-01T00:00:00"]
    assert example_row(input_spec(ARRAY), None) == [0, 0, 0]
    assert oip_body(input_spec(ARRAY), [0, 0, 0])["inputs"][0]["shape"] == [1, 3]
    any_width = input_spec({"inputs": {"kind": "tensor", "dtype": "float64", "shape": [-1, -1]}})
    assert example_requests(any_width, None, url="http://h:1", name="m") == []
