"""Validation: each rule catches exactly the bad rows, across batch boundaries."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pyarrow as pa
import pytest

from loopml.data.profiles import LogicalType
from loopml.data.schema import ColumnSchema, RowCheck, Schema
from loopml.data.validation import RuleFailure, ValidationReport, validate

T = LogicalType


def batches(columns: dict[str, Any], size: int = 2) -> list[pa.RecordBatch]:
    """The table split in batches of ``size`` rows, so rules must carry state across them."""
    batch_list: list[pa.RecordBatch] = pa.table(columns).to_batches(max_chunksize=size)
    return batch_list


def only_failure(report: ValidationReport) -> RuleFailure:
    assert not report.ok
    assert len(report.failures) == 1, report.render_text()
    return report.failures[0]


def test_a_clean_table_is_ok() -> None:
    data = {
        "id": [1, 2, 3],
        "price": [0.0, 2.5, 10.0],
        "status": ["a", "b", None],
        "day": [datetime(2024, 1, 1), datetime(2024, 1, 2), datetime(2024, 3, 1)],
    }
    schema = Schema(
        columns=[
            ColumnSchema("id", T.INTEGER, nullable=False, unique=True),
            ColumnSchema("price", T.NUMERIC, nullable=False, min=0, max=10),
            ColumnSchema("status", T.CATEGORICAL, allowed=["a", "b"]),
            ColumnSchema("day", T.DATETIME, min="2024-01-01", max="2024-03-01T00:00:00"),
        ],
        unique=[["id", "status"]],
        checks=[RowCheck("cheap", "price * id <= 30 and status in ('a', 'b')")],
    )
    report = validate(batches(data), schema, source="clean.csv")
    assert report.ok and report.rows == 3 and report.failures == [] and report.warnings == []
    assert report.render_text().startswith("OK: clean.csv: 3 rows checked")


@pytest.mark.parametrize(
    ("column", "values", "rule", "rows", "examples"),
    [
        (ColumnSchema("x", T.NUMERIC, nullable=False), [1.0, None, 2.0, None, 3.0], "not_null",
         [2, 4], []),
        (ColumnSchema("x", T.NUMERIC, min=0), [1.0, -1.0, 0.0, 5.0, -3.0], "min", [2, 5],
         ["-1.0", "-3.0"]),
        (ColumnSchema("x", T.INTEGER, max=10), [10, 11, 3, 12, 1], "max", [2, 4], ["11", "12"]),
        (ColumnSchema("x", T.CATEGORICAL, allowed=["a", "b"]), ["a", "c", None, "b", "d"],
         "allowed", [2, 5], ["'c'", "'d'"]),
        (ColumnSchema("x", T.NUMERIC), ["1.5", "two", "-3e2", None, "n/a"], "type", [2, 5],
         ["'two'", "'n/a'"]),
        (ColumnSchema("x", T.INTEGER), [1.0, 2.5, 3.0, None, 4.25], "type", [2, 5],
         ["2.5", "4.25"]),
        (ColumnSchema("x", T.DATETIME), ["2024-01-01", "soon", "2024-01-02T10:00:00Z", None,
         "31/12/2024"], "type", [2, 5], ["'soon'", "'31/12/2024'"]),
        (ColumnSchema("x", T.BOOLEAN), ["true", "yes", "0", "False", "2"], "type", [2, 5],
         ["'yes'", "'2'"]),
        (ColumnSchema("x", T.INTEGER, unique=True), [1, 2, 1, None, 2], "unique", [3, 5],
         ["1", "2"]),
        (ColumnSchema("x", T.DATETIME, min="2024-01-01"),
         [datetime(2024, 1, 1), datetime(2023, 12, 31), None, datetime(2024, 5, 1),
          datetime(2020, 1, 1)], "min", [2, 5], ["2023-12-31T00:00:00", "2020-01-01T00:00:00"]),
        (ColumnSchema("x", T.NUMERIC, max_missing_fraction=0.2), [1.0, None, 2.0, float("nan"),
         3.0], "max_missing", [2, 4], []),
    ],
)  # fmt: skip
def test_each_rule_catches_exactly_the_bad_rows_across_batches(
    column: ColumnSchema, values: list[Any], rule: str, rows: list[int], examples: list[str]
) -> None:
    report = validate(batches({"x": values}), Schema(columns=[column]))
    failure = only_failure(report)
    assert (failure.column, failure.rule, failure.failed_rows) == ("x", rule, len(rows))
    assert failure.first_rows == rows
    assert failure.examples == examples
    assert report.rows == len(values)


def test_a_column_of_the_wrong_arrow_type_fails_every_present_value() -> None:
    days = [datetime(2024, 1, 1), None, datetime(2024, 1, 3)]
    failure = only_failure(validate(batches({"x": days}), Schema([ColumnSchema("x", T.NUMERIC)])))
    assert (failure.rule, failure.failed_rows, failure.first_rows) == ("type", 2, [1, 3])
    assert "allowed: numbers" in failure.message


def test_missing_columns_fail_and_extra_columns_warn_or_fail() -> None:
    schema = Schema(columns=[ColumnSchema("a", T.INTEGER), ColumnSchema("b", T.TEXT)])
    report = validate(batches({"a": [1, 2, 3], "c": [1, 2, 3]}), schema)
    failure = only_failure(report)
    assert (failure.column, failure.rule, failure.failed_rows) == ("b", "missing_column", 3)
    assert [(w.column, w.rule) for w in report.warnings] == [("c", "extra_column")]
    strict = validate(batches({"a": [1], "b": ["x"], "c": [1]}), schema, extra_columns="fail")
    assert [(f.column, f.rule) for f in strict.failures] == [("c", "extra_column")]


def test_unique_column_sets_ignore_rows_with_a_missing_value() -> None:
    data = {"a": [1, 1, 1, 1, None, None], "b": ["x", "y", "x", None, "x", "x"]}
    schema = Schema(
        columns=[ColumnSchema("a", T.INTEGER), ColumnSchema("b", T.TEXT)], unique=[["a", "b"]]
    )
    failure = only_failure(validate(batches(data), schema))
    assert (failure.column, failure.rule, failure.first_rows) == ("a, b", "unique", [3])
    assert failure.examples == ["(a=1, b='x')"]


def test_row_checks_catch_exactly_the_false_rows_and_let_missing_inputs_pass() -> None:
    data = {
        "quantity": [1, 2, None, 4, 5],
        "price": [10.0, 600_000.0, 1.0, 1.0, 300_000.0],
        "status": ["a", "a", "a", "b", "z"],
    }
    schema = Schema(
        columns=[
            ColumnSchema("quantity", T.INTEGER),
            ColumnSchema("price", T.NUMERIC),
            ColumnSchema("status", T.CATEGORICAL),
        ],
        checks=[RowCheck("total", "quantity * price < 1e6 and not status in ('z')")],
    )
    failure = only_failure(validate(batches(data), schema))
    assert (failure.column, failure.rule, failure.first_rows) == (None, "row_check", [2, 5])
    assert failure.examples[0] == "(quantity=2, price=600000.0, status='a')"
    assert "'total'" in failure.message


def test_row_checks_compare_columns_and_see_text_numbers_as_numbers() -> None:
    data = {
        "start": ["2024-01-01", "2024-02-01", "2024-03-01"],
        "end": [datetime(2024, 1, 5), datetime(2024, 1, 5), datetime(2024, 3, 1)],
        "price": ["1.5", "oops", "-2"],
    }
    schema = Schema(
        columns=[
            ColumnSchema("start", T.DATETIME),
            ColumnSchema("end", T.DATETIME),
            ColumnSchema("price", T.NUMERIC),
        ],
        checks=[RowCheck("ordered", "end >= start"), RowCheck("positive", "price >= 0")],
    )
    report = validate(batches(data), schema)
    found = {(f.column, f.rule, tuple(f.first_rows)) for f in report.failures}
    assert found == {(None, "row_check", (2,)), (None, "row_check", (3,)), ("price", "type", (2,))}


def test_a_row_check_that_cannot_be_evaluated_fails_with_the_reason() -> None:
    schema = Schema(
        columns=[ColumnSchema("name", T.TEXT)], checks=[RowCheck("silly", "name * 2 > 1")]
    )
    failure = only_failure(validate(batches({"name": ["a", "b", "c"]}), schema))
    assert failure.failed_rows == 3 and "could not be evaluated" in failure.message


def test_the_report_text_and_dict_name_column_rule_count_and_examples() -> None:
    schema = Schema(columns=[ColumnSchema("price", T.NUMERIC, min=0)])
    report = validate(batches({"price": [1.0, -5.0, -7.0, 2.0, -5.0]}), schema, source="in.csv")
    text = report.render_text()
    assert text.splitlines()[0] == "FAILED: in.csv: 5 rows checked, 1 rules failed, 0 warnings"
    assert "column price · min · 3 rows: values below the minimum 0" in text
    assert "examples: -5.0, -7.0" in text  # distinct values
    assert "first rows: 2, 3, 5" in text
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and data["rows"] == 5
    assert data["failures"][0] == {
        "column": "price",
        "rule": "min",
        "failed_rows": 3,
        "examples": ["-5.0", "-7.0"],
        "first_rows": [2, 3, 5],
        "message": "values below the minimum 0",
    }


def test_first_rows_keep_the_first_five_over_many_batches() -> None:
    values = [1.0] * 7 + [-1.0] * 20
    schema = Schema(columns=[ColumnSchema("x", T.NUMERIC, min=0)])
    failure = only_failure(validate(batches({"x": values}, size=3), schema))
    assert failure.failed_rows == 20
    assert failure.first_rows == [8, 9, 10, 11, 12]


def test_no_batches_is_an_empty_ok_report() -> None:
    report = validate([], Schema(columns=[ColumnSchema("a", T.TEXT, nullable=False)]))
    assert report.ok and report.rows == 0
