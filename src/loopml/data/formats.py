"""Which files are tables, by extension: light enough to ask about every file of a tree
without importing pyarrow."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["TABLE_EXTENSIONS", "table_format"]

TABLE_EXTENSIONS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def table_format(path: str | Path) -> str | None:
    """``"csv"``, ``"parquet"`` or ``"jsonl"`` by extension (any case); None if not a table."""
    name = os.path.basename(os.fspath(path))
    dot = name.rfind(".")
    return TABLE_EXTENSIONS.get(name[dot:].lower()) if dot > 0 else None
