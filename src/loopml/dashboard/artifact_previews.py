"""What the run page shows of one artifact file: the head of a text, a table's first rows
(CSV, TSV, JSON, JSON lines, Parquet), an image, or nothing but its download link.

Bounded everywhere: a text or table preview reads the first :data:`HEAD_BYTES` of the blob
and stops (a preview, so the digest is not checked: the download is, to its end); a table
shows :data:`TABLE_ROWS` rows of :data:`TABLE_COLUMNS` columns, each cell cut at
:data:`CELL_CHARS`. A Parquet file keeps its row index at its end and the stores' readers go
forward only, so its bytes (up to :data:`PARQUET_MAX_BYTES`, verified on the way) pass through
a temporary file, from which pyarrow reads the footer and the first rows of the first
columns, never the whole table.
"""

from __future__ import annotations

import csv
import json
import posixpath
import tempfile
from dataclasses import dataclass, field
from typing import Any

from loopml.core.hashing import CHUNK_SIZE, Digest
from loopml.stores.artifacts.base import ArtifactStore

__all__ = ["Preview", "as_download_name", "image_type", "preview"]

HEAD_BYTES = 64 * 1024
TABLE_ROWS = 50
TABLE_COLUMNS = 30
CELL_CHARS = 200
IMAGE_MAX_BYTES = 20 * 1024 * 1024  # larger images: the download link only
PARQUET_MAX_BYTES = 64 * 1024 * 1024
# served as images, with these types; an SVG only ever as an <img> (its scripts never run)
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}
TEXT_EXTENSIONS = {".txt", ".log", ".md", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".py"}


@dataclass(frozen=True)
class Preview:
    """``kind``: ``text``, ``table``, ``image`` or ``none`` (with ``note`` saying why)."""

    kind: str
    text: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    truncated: bool = False  # more exists than is shown
    note: str = ""


def image_type(path: str) -> str | None:
    """The content type an artifact is served as an image with, or None."""
    return IMAGE_TYPES.get(posixpath.splitext(path)[1].lower())


def preview(artifacts: ArtifactStore, path: str, digest: str, size: int | None) -> Preview:
    """What the page shows of the file ``path`` (stored as ``digest``, ``size`` bytes)."""
    extension = posixpath.splitext(path)[1].lower()
    if extension in IMAGE_TYPES:
        if size is not None and size > IMAGE_MAX_BYTES:
            return Preview("none", note=f"An image larger than {_mib(IMAGE_MAX_BYTES)}.")
        return Preview("image")
    if extension in (".parquet", ".pq"):
        if size is not None and size > PARQUET_MAX_BYTES:
            return Preview("none", note=f"A Parquet file larger than {_mib(PARQUET_MAX_BYTES)}.")
        return _parquet_head(artifacts, Digest.parse(digest))
    head = _head(artifacts, Digest.parse(digest))
    cut = size is None or size > len(head)
    if extension in (".csv", ".tsv"):
        return _delimited(head, cut, "\t" if extension == ".tsv" else ",")
    if extension in (".jsonl", ".ndjson"):
        return _json_lines(head, cut)
    if extension == ".json":
        return _json(head, cut)
    text = _text(head)
    if text is None and extension not in TEXT_EXTENSIONS:
        return Preview("none", note="A binary file.")
    return Preview("text", text=text or head.decode("utf-8", "replace"), truncated=cut)


def _head(artifacts: ArtifactStore, digest: Digest) -> bytes:
    with artifacts.open(digest) as stream:
        return stream.read(HEAD_BYTES)


def _text(head: bytes) -> str | None:
    """``head`` as text, or None if it looks binary (a NUL, or not UTF-8 but for a character
    cut at the end)."""
    if b"\x00" in head:
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            return None
        return head[: exc.start].decode("utf-8")


def _lines(head: bytes, cut: bool) -> list[str]:
    text = _text(head)
    if text is None:
        return []
    lines = text.splitlines()
    return lines[:-1] if cut and lines else lines  # the last line of a cut head is partial


def _delimited(head: bytes, cut: bool, delimiter: str) -> Preview:
    lines = _lines(head, cut)
    if not lines:
        return Preview("none", note="Not readable as text.")
    try:
        parsed = list(csv.reader(lines[: TABLE_ROWS + 1], delimiter=delimiter))
    except csv.Error as exc:
        return Preview("text", text="\n".join(lines), truncated=cut, note=f"Not a table: {exc}")
    columns, rows = (parsed[0], parsed[1:]) if parsed else ([], [])
    more = cut or len(lines) > TABLE_ROWS + 1 or len(columns) > TABLE_COLUMNS
    return _table(columns, rows, more)


def _json_lines(head: bytes, cut: bool) -> Preview:
    records: list[dict[str, Any]] = []
    lines = _lines(head, cut)
    for line in lines[:TABLE_ROWS]:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            return Preview("text", text="\n".join(lines), truncated=cut, note="Not JSON lines.")
        records.append(record if isinstance(record, dict) else {"value": record})
    return _records(records, cut or len(lines) > TABLE_ROWS)


def _json(head: bytes, cut: bool) -> Preview:
    text = _text(head)
    if text is None:
        return Preview("none", note="Not readable as text.")
    if cut:  # a cut document does not parse: its head as it is
        return Preview("text", text=text, truncated=True)
    try:
        document = json.loads(text)
    except ValueError:
        return Preview("text", text=text, note="Not valid JSON.")
    if isinstance(document, list) and document and all(isinstance(d, dict) for d in document):
        return _records(document[:TABLE_ROWS], len(document) > TABLE_ROWS)
    return Preview("text", text=json.dumps(document, indent=2, ensure_ascii=False))


def _records(records: list[dict[str, Any]], more: bool) -> Preview:
    columns: list[str] = []
    for record in records:
        columns.extend(key for key in record if key not in columns)
    rows = [[_cell(record.get(key)) for key in columns] for record in records]
    return _table(columns, rows, more or len(columns) > TABLE_COLUMNS)


def _parquet_head(artifacts: ArtifactStore, digest: Digest) -> Preview:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with tempfile.TemporaryFile() as copy:
        with artifacts.open(digest) as stream:  # read to its end: verified
            for chunk in iter(lambda: stream.read(CHUNK_SIZE), b""):
                copy.write(chunk)
        copy.seek(0)
        try:
            parquet = pq.ParquetFile(copy)
            names = parquet.schema_arrow.names
            batches = parquet.iter_batches(batch_size=TABLE_ROWS, columns=names[:TABLE_COLUMNS])
            batch = next(batches, None)
        except (pa.ArrowException, OSError) as exc:
            return Preview("none", note=f"Not a readable Parquet file: {exc}")
        total = parquet.metadata.num_rows
    rows = [] if batch is None else batch.to_pylist()
    preview = _records(rows, total > len(rows) or len(names) > TABLE_COLUMNS)
    columns = names[:TABLE_COLUMNS]  # in the file's order, even with no rows
    table = [[_cell(row.get(name)) for name in columns] for row in rows]
    note = f"{total:,} rows, {len(names):,} columns."
    return Preview("table", columns=columns, rows=table, truncated=preview.truncated, note=note)


def _table(columns: list[str], rows: list[list[str]], more: bool) -> Preview:
    return Preview(
        "table",
        columns=[_cell(c) for c in columns[:TABLE_COLUMNS]],
        rows=[[_cell(c) for c in row[:TABLE_COLUMNS]] for row in rows[:TABLE_ROWS]],
        truncated=more,
    )


def _cell(value: object) -> str:
    text = "" if value is None else value if isinstance(value, str) else str(value)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def _mib(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB"


def as_download_name(path: str) -> str:
    """The file name a download is saved as (the artifact's last path segment)."""
    return posixpath.basename(path) or "artifact"
