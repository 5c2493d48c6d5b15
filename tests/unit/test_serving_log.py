"""The prediction log's pure parts: labels as /feedback takes them, the traffic split as
--canary/--shadow take it, log entries as Arrow tables, spool chunk names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from loopml.core.errors import InvalidInputError
from loopml.monitoring.log_records import FeedbackEntry, PredictionEntry, to_table
from loopml.monitoring.prediction_log import SpoolChunk
from loopml.serving.errors import InputMismatchError, PayloadTooLargeError
from loopml.serving.feedback import parse_feedback
from loopml.serving.options import ServeOptions
from loopml.serving.rows import Rows
from loopml.serving.split import CANARY, SHADOW, TrafficSplit, parse_split


def test_feedback_takes_one_label_or_a_list_of_labels_of_one_kind() -> None:
    one = parse_feedback(b'{"prediction_id": "a-0", "label": 1}', max_rows=10)
    assert (list(one.prediction_ids), list(one.labels)) == (["a-0"], [1])
    many = parse_feedback(
        b'[{"prediction_id": "a-0", "label": "cat"}, {"prediction_id": "a-1", "label": "dog"}]',
        max_rows=10,
    )
    assert list(many.labels) == ["cat", "dog"]


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (b"{", InvalidInputError, "not valid JSON"),
        (b"[]", InputMismatchError, "empty list"),
        (b'{"label": 1}', InputMismatchError, "body.prediction_id: expected"),
        (b'{"prediction_id": "a", "label": null}', InputMismatchError, "body.label: missing"),
        (b'{"prediction_id": "a", "label": [1]}', InputMismatchError, "body.label: expected"),
        (b'{"prediction_id": "a", "label": 1, "x": 2}', InputMismatchError, "body.x: unknown"),
        (
            b'[{"prediction_id": "a", "label": 1}, {"prediction_id": "b", "label": "x"}]',
            InputMismatchError,
            "[1].label: is a string but the first label is a number",
        ),
        (b"[" + b",".join([b'{"prediction_id": "a", "label": 1}'] * 3) + b"]",
         PayloadTooLargeError, "at most 2"),
    ],
)  # fmt: skip
def test_bad_feedback_is_refused_naming_the_field(
    body: bytes, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        parse_feedback(body, max_rows=2)
    assert message in str(caught.value)


def test_the_split_is_a_canary_share_or_a_shadow_never_both() -> None:
    assert parse_split(canary="challenger:10%") == TrafficSplit("challenger", CANARY, 0.1)
    assert parse_split(canary="4:25") == TrafficSplit("4", CANARY, 0.25)
    assert parse_split(shadow="challenger") == TrafficSplit("challenger", SHADOW, 1.0)
    assert parse_split() is None
    for bad in ("challenger", "challenger:0%", "challenger:100%", ":5%", "a:b%"):
        with pytest.raises(InvalidInputError, match="ALIAS:PERCENT"):
            parse_split(canary=bad)
    with pytest.raises(InvalidInputError, match="not both"):
        parse_split(canary="a:5%", shadow="b")
    with pytest.raises(InvalidInputError, match="--shadow"):
        ServeOptions(shadow="cancer@2")


def test_table_requests_log_their_columns_and_labels_keep_their_kind() -> None:
    first = Rows(pa.table({"age": [41, 52], "city": ["Oslo", "Rome"]}))
    second = Rows(pa.table({"age": [30], "city": ["Nice"]}))
    entries = [
        PredictionEntry("p", "r1", 1000, "m@1", "main", 1.5, first, np.array(["yes", "no"])),
        PredictionEntry("q", "r2", 2000, "m@1", "main", 2.5, second, np.array(["no"])),
    ]
    table = to_table(entries)
    assert table["prediction_id"].to_pylist() == ["p-0", "p-1", "q-0"]
    assert table["request_id"].to_pylist() == ["r1", "r1", "r2"]
    assert table["latency_ms"].to_pylist() == [1.5, 1.5, 2.5]
    assert table["inputs"].to_pylist()[2] == {"age": 30, "city": "Nice"}
    assert table["prediction"].to_pylist() == ["yes", "no", "no"]
    labels = to_table([FeedbackEntry(["p-0", "q-0"], [1, 2.5], 3000)])
    assert labels.schema.field("label").type == pa.float64()


def test_array_requests_log_rows_as_lists_and_several_outputs_as_lists() -> None:
    rows = Rows(np.arange(6, dtype=np.float64).reshape(2, 3))
    entry = PredictionEntry("p", "r", 1, "m@2", "canary", 1.0, rows, np.array([[0.1, 0.9]] * 2))
    table = to_table([entry])
    assert table["inputs"].to_pylist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert table["prediction"].to_pylist() == [[0.1, 0.9], [0.1, 0.9]]
    assert table["traffic"].to_pylist() == ["canary", "canary"]


def test_spool_chunk_names_carry_what_rolling_needs(tmp_path: Path) -> None:
    chunk = SpoolChunk.parse(tmp_path / "predictions.ab12cd.1795000000000.000007.42.parquet")
    assert chunk is not None
    assert (chunk.kind, chunk.group, chunk.seq, chunk.rows) == ("predictions", "ab12cd", 7, 42)
    assert chunk.folder == "predictions/date=2026-11-18"
    for other in ("lock", ".predictions.x.1.1.1.parquet.tmp", "labels.a.1.1.1.parquet"):
        assert SpoolChunk.parse(tmp_path / other) is None
