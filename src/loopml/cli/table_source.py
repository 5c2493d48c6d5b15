"""A table named on the command line: a file (CSV, Parquet, JSON lines) or a dataset version
(``NAME@3``, ``NAME@latest``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from loopml.data.formats import table_format
from loopml.tracking.client import Client

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["read_table"]


def read_table(text: str, client: Client) -> pa.Table:
    """The whole table ``text`` names: a file when it has a table extension or exists, else
    a dataset version (its one table)."""
    import pyarrow as pa

    if table_format(text) is not None or Path(text).exists() or "@" not in text:
        from loopml.data.tables import read_batches

        batches = list(read_batches(text))
        return pa.Table.from_batches(batches)
    from loopml.data.versions import get

    return get(text, client=client).to_arrow()
