"""The output of batch scoring: one Parquet or CSV file appended table by table, written
beside its final path and renamed into place only when all went well."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.core.hashing import Digest, hash_chunks, iter_chunks

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["Writer", "atomic", "file_digest", "output_columns"]


class Writer:
    """Appends output tables to one Parquet or CSV file (opened on the first table; later
    tables are cast to its schema)."""

    def __init__(self, path: Path, fmt: str, *, header: bool = True) -> None:
        self.path, self.fmt, self.header = path, fmt, header
        self._writer: Any = None
        self.schema: pa.Schema | None = None

    def write(self, table: pa.Table) -> None:
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq

        if self._writer is None:
            self.schema = table.schema
            if self.fmt == "parquet":
                self._writer = pq.ParquetWriter(self.path, table.schema)
            else:
                options = pa_csv.WriteOptions(include_header=self.header)
                self._writer = pa_csv.CSVWriter(self.path, table.schema, write_options=options)
        elif table.schema != self.schema:
            table = table.cast(self.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def csv_header(self) -> bytes:
        """The header line the CSV writer writes for this file's columns (b"" if none)."""
        import pyarrow as pa
        import pyarrow.csv as pa_csv

        if self.schema is None:
            return b""
        buffer = pa.BufferOutputStream()
        pa_csv.write_csv(self.schema.empty_table(), buffer)
        return bytes(buffer.getvalue().to_pybytes())


@contextlib.contextmanager
def atomic(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``, renamed to it when the block ends without error
    and removed otherwise."""
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def output_columns(path: Path, fmt: str) -> tuple[str, ...]:
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    if fmt == "parquet":
        return tuple(pq.read_schema(path).names)
    with pa_csv.open_csv(path) as reader:
        return tuple(reader.schema.names)


def file_digest(path: Path) -> Digest:
    with path.open("rb") as stream:
        return hash_chunks(iter_chunks(stream))
