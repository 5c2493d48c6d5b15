"""What the run page previews of an artifact, over a real local artifact store: bounded
heads, tables cut to their first rows and columns, and files that are not what their name
says shown as such rather than failing the page."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loopml.dashboard.artifact_previews import (
    HEAD_BYTES,
    TABLE_COLUMNS,
    TABLE_ROWS,
    Preview,
    image_type,
    preview,
)
from loopml.stores.artifacts.local import LocalArtifactStore


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(str(tmp_path / "artifacts"))


def _show(store: LocalArtifactStore, path: str, data: bytes) -> Preview:
    digest = store.put(io.BytesIO(data))
    return preview(store, path, str(digest), len(data))


def test_a_text_cut_inside_a_character_keeps_the_whole_characters_before(
    store: LocalArtifactStore,
) -> None:
    data = b"a" * (HEAD_BYTES - 1) + "é and more".encode()  # é straddles the cut
    shown = _show(store, "notes.txt", data)
    assert shown.kind == "text" and shown.truncated and shown.text == "a" * (HEAD_BYTES - 1)


def test_binary_files_get_no_preview_but_known_text_names_do(store: LocalArtifactStore) -> None:
    assert _show(store, "weights.bin", b"\x00\x01\x02").kind == "none"
    assert _show(store, "weights", bytes(range(256))).note == "A binary file."
    assert _show(store, "run.log", b"\xff\xfe not utf-8").kind == "text"


def test_delimited_and_json_lines_show_their_first_rows(store: LocalArtifactStore) -> None:
    tsv = "a\tb\n" + "".join(f"{n}\t{n * 2}\n" for n in range(TABLE_ROWS + 10))
    shown = _show(store, "t.tsv", tsv.encode())
    assert (shown.kind, shown.columns, shown.truncated) == ("table", ["a", "b"], True)
    assert len(shown.rows) == TABLE_ROWS and shown.rows[1] == ["1", "2"]
    lines = "\n".join(json.dumps({"x": n, "y": "v"}) for n in range(3)) + "\n"
    shown = _show(store, "t.jsonl", lines.encode())
    assert shown.columns == ["x", "y"] and not shown.truncated
    assert shown.rows == [["0", "v"], ["1", "v"], ["2", "v"]]


def test_json_documents_are_tables_text_or_said_invalid(store: LocalArtifactStore) -> None:
    assert _show(store, "r.json", b'[{"a": 1}, {"b": 2}]').columns == ["a", "b"]
    pretty = _show(store, "c.json", b'{"k": [1, 2]}')
    assert pretty.kind == "text" and pretty.text == '{\n  "k": [\n    1,\n    2\n  ]\n}'
    assert _show(store, "bad.json", b"{nope").note == "Not valid JSON."


def test_a_wide_parquet_file_shows_its_first_rows_and_columns(
    store: LocalArtifactStore, tmp_path: Path
) -> None:
    columns = {f"c{n:02d}": list(range(200)) for n in range(TABLE_COLUMNS + 5)}
    pq.write_table(pa.table(columns), tmp_path / "wide.parquet", row_group_size=100)
    shown = _show(store, "wide.parquet", (tmp_path / "wide.parquet").read_bytes())
    assert shown.kind == "table" and shown.truncated
    assert shown.columns == [f"c{n:02d}" for n in range(TABLE_COLUMNS)]
    assert len(shown.rows) == TABLE_ROWS and shown.rows[-1][0] == str(TABLE_ROWS - 1)
    assert shown.note == f"200 rows, {TABLE_COLUMNS + 5} columns."
    fake = _show(store, "fake.parquet", b"not parquet at all")
    assert fake.kind == "none" and fake.note.startswith("Not a readable Parquet file")


def test_images_are_known_by_their_extension_only() -> None:
    assert image_type("plots/a.PNG") == "image/png"
    assert image_type("a.svg") == "image/svg+xml"
    assert image_type("a.png.txt") is None and image_type("png") is None
