"""Reading tables in batches, and the errors bad table files produce."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from loopml.core.errors import InvalidInputError
from loopml.data.tables import TableFormatError, read_batches, table_format


def _table(rows: int) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "score": pa.array([i / 7 for i in range(rows)], pa.float64()),
            "label": pa.array([f"label {i % 13}" for i in range(rows)], pa.string()),
            "ok": pa.array([i % 3 == 0 for i in range(rows)], pa.bool_()),
        }
    )


def _read_all(path: Path, batch_size: int) -> tuple[pa.Table, int]:
    batches = list(read_batches(path, batch_size=batch_size))
    return pa.Table.from_batches(batches), len(batches)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", "csv"),
        ("a.CSV", "csv"),
        ("a.parquet", "parquet"),
        ("a.pq", "parquet"),
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.json", None),
        ("a.txt", None),
        ("noext", None),
    ],
)
def test_table_format_is_chosen_by_extension(name: str, expected: str | None) -> None:
    assert table_format(name) == expected


def test_parquet_read_in_several_batches_gives_the_same_data(tmp_path: Path) -> None:
    table = _table(5000)
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=1500)
    read, count = _read_all(path, batch_size=700)
    assert count > 4
    assert read.equals(table)


def test_csv_read_in_several_batches_gives_the_same_data(tmp_path: Path) -> None:
    table = _table(20_000)
    path = tmp_path / "t.csv"
    pa_csv.write_csv(table, path)
    read, count = _read_all(path, batch_size=100)
    assert count > 2
    assert read.equals(table)


def test_jsonl_read_in_several_batches_gives_the_same_data(tmp_path: Path) -> None:
    table = _table(20_000)
    path = tmp_path / "t.jsonl"
    with path.open("w") as handle:
        for row in table.to_pylist():
            handle.write(json.dumps(row) + "\n")
    read, count = _read_all(path, batch_size=100)
    assert count > 2
    assert read.equals(table)


def test_csv_batches_are_joined_up_to_batch_size(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    pa_csv.write_csv(_table(20_000), path)
    read, count = _read_all(path, batch_size=1_000_000)
    assert (read.num_rows, count) == (20_000, 1)


def test_csv_with_only_a_header_has_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n")
    read, _ = _read_all(path, batch_size=10)
    assert read.num_rows == 0
    assert read.column_names == ["a", "b"]


def test_a_csv_column_empty_in_the_first_block_is_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "sparse.csv"
    path.write_text("a,note\n" + "1,\n" * 20_000 + "2,late\n")
    read, _ = _read_all(path, batch_size=10)
    assert read.schema.field("note").type == pa.string()
    assert read["note"].to_pylist()[-1] == "late"


def _error(path: Path, batch_size: int = 10) -> str:
    with pytest.raises(TableFormatError) as caught:
        list(read_batches(path, batch_size=batch_size))
    assert caught.value.code == "invalid_table"
    assert isinstance(caught.value, InvalidInputError)
    message = caught.value.message
    assert str(path) in message
    return message


def test_a_ragged_row_names_its_line_and_the_header(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,c\n1,2,3\n4,5,6,7\n8,9,10\n")
    message = _error(path)
    assert "line 3" in message
    assert "4 fields" in message and "(a, b, c)" in message


def test_a_ragged_row_after_the_first_block_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,c\n" + "1,2,3\n" * 30_000 + "4,5,6,7\n")
    assert "line 30002" in _error(path)


def test_an_unclosed_quote_is_reported_as_bad_quoting(tmp_path: Path) -> None:
    path = tmp_path / "quote.csv"
    path.write_text('a,b,c\n1,2,3\n4,"x,6\n7,8,9\n')
    message = _error(path)
    assert "line 3" in message
    assert "quot" in message


def test_non_utf8_text_names_line_offset_and_column(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("a,name\n1,ok\n2,café\n".encode("latin-1"))
    message = _error(path)
    assert "line 3" in message
    assert "byte offset 17" in message
    assert "column 'name'" in message
    assert "UTF-8" in message


def test_non_utf8_text_after_the_first_block_is_found(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"a,name\n" + b"1,ok\n" * 20_000 + "2,café\n".encode("latin-1"))
    message = _error(path)
    assert "line 20002" in message
    assert "column 'name'" in message


def test_a_type_change_mid_file_names_line_column_and_value(tmp_path: Path) -> None:
    path = tmp_path / "types.csv"
    path.write_text("a,b\n" + "1,2\n" * 20_000 + "3,abc\n")
    message = _error(path)
    assert "line 20002" in message
    assert "column 'b'" in message
    assert "'abc'" in message and "int64" in message


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_an_empty_file_is_an_error(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    assert "empty" in _error(path)


def test_a_missing_path_is_an_error(tmp_path: Path) -> None:
    assert "no such file" in _error(tmp_path / "nope.csv")


def test_a_folder_is_not_a_table(tmp_path: Path) -> None:
    (tmp_path / "t.csv").mkdir()
    assert "folder" in _error(tmp_path / "t.csv")


def test_non_utf8_json_lines_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"a": "ok"}\n' + '{"a": "café"}\n'.encode("latin-1"))
    message = _error(path)
    assert "line 2" in message and "column 'a'" in message and "UTF-8" in message


def test_a_file_that_is_not_a_table_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    assert ".parquet" in _error(path)


def test_a_truncated_parquet_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(_table(5000), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "truncated" in _error(path)


def test_a_corrupted_parquet_row_group_is_named_with_its_column(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": list(range(100_000))}), path, row_group_size=10_000)
    data = bytearray(path.read_bytes())
    data[2000:6000] = b"\xff" * 4000
    path.write_bytes(bytes(data))
    message = _error(path)
    assert "row group 0" in message
    assert "column 'a'" in message


def test_a_json_line_that_is_not_json_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"a": 1}\n{"a": 2\n{"a": 3}\n')
    assert "line 2" in _error(path)


def test_a_json_type_change_mid_file_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"a": 1}\n' * 20_000 + '{"a": "x"}\n')
    message = _error(path)
    assert "line 20001" in message
    assert "column 'a'" in message


def test_batch_size_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="batch_size"):
        read_batches(tmp_path / "t.csv", batch_size=0)


def test_an_empty_text_cell_is_a_missing_value(tmp_path: Path) -> None:
    from loopml.data.profiling import compute_profile

    file = tmp_path / "t.csv"
    file.write_text("name,n\nann,1\n,2\nbob,3\n")
    profile = compute_profile(read_batches(file))
    assert profile.column("name").missing == 1
    assert profile.column("n").missing == 0


def test_csv_columns_sharing_a_name_keep_their_own_types(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,a,b\n" + "1,x,\n" * 30_000 + "2,y,late\n")
    read, _ = _read_all(path, batch_size=10)
    assert [f.type for f in read.schema] == [pa.int64(), pa.string(), pa.string()]
    assert read.column(1).to_pylist()[-1] == "y"
    assert read.column(2).to_pylist()[-1] == "late"


def test_csv_types_inferred_from_the_first_block_hold_for_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("n,when\n" + "1,2024-01-01 00:00:00\n" * 30_000 + "2,2024-01-02 12:00:00\n")
    read, _ = _read_all(path, batch_size=10)
    assert read.schema.field("n").type == pa.int64()
    assert pa.types.is_timestamp(read.schema.field("when").type)
    assert read.num_rows == 30_001
