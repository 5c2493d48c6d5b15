"""Every digest column of the metadata schema is a root of garbage collection (or is decided
not to name a blob): a new table that names blobs cannot be forgotten by ``loopml gc``."""

from __future__ import annotations

import pytest

from loopml.cli.gc import parse_grace
from loopml.core.errors import InvalidInputError
from loopml.stores.metadata.sql import references
from loopml.stores.metadata.sql.schema import DIGEST, metadata


def test_every_digest_column_of_the_schema_is_a_gc_root_or_decided_not_to_be() -> None:
    digest_columns = {
        f"{table.name}.{column.name}"
        for table in metadata.tables.values()
        for column in table.columns
        if "digest" in column.name or column.type is DIGEST
    }
    decided = {
        f"{column.table.name}.{column.name}"
        for column in (*references.BLOB_COLUMNS, *references.TREE_COLUMNS, *references.NOT_BLOBS)
    }
    assert digest_columns == decided


@pytest.mark.parametrize(
    ("text", "seconds"), [("0", 0), ("45", 45), ("45s", 45), ("10m", 600), ("12h", 43200),
                          ("1d", 86400), ("1.5h", 5400)],
)  # fmt: skip
def test_grace_periods_are_read_as_durations(text: str, seconds: float) -> None:
    assert parse_grace(text) == seconds


@pytest.mark.parametrize("text", ["", "-1d", "1w", "soon", "1 d 2h"])
def test_a_bad_grace_period_names_the_option_and_what_is_allowed(text: str) -> None:
    with pytest.raises(InvalidInputError, match=r"--grace option .* like 1d, 12h, 30m, 45s or 0"):
        parse_grace(text)
