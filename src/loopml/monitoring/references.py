"""What drift is measured against, and on: a table named by a file, a dataset version, or — for
a reference — a model version, whose reference is the dataset version it was trained on
(the lineage its registration recorded).

- ``data/current.parquet``: a table file (CSV, Parquet, JSON lines);
- ``penguins@3``, ``penguins@latest``, ``penguins``: a dataset version's table, with its
  stored profile (whose histogram edges bin the numbers);
- ``models:/churn@champion``, ``models:/churn/3``: the dataset version that model version was
  trained on.

Parquet columns are read one at a time (only the compared ones, bounded memory); CSV and JSON
lines are read whole once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from loopml.core.errors import InvalidInputError, NotFoundError, TableFormatError
from loopml.core.refs import MODELS_SCHEME, parse_dataset_ref, parse_model_ref
from loopml.data.formats import TABLE_EXTENSIONS, table_format
from loopml.data.profiles import TableProfile

if TYPE_CHECKING:
    from loopml.tracking.client import Client

__all__ = ["TableSource", "open_table", "resolve_table"]

ClientFactory = Callable[[], "Client"]


@dataclass
class TableSource:
    """One side of a comparison: a table file, where it came from, and its stored profile."""

    label: str  # what to show: the file, "penguins@2", "models:/p@champion → penguins@2"
    path: Path | None  # None: a table in memory
    profile: TableProfile | None = None
    table: pa.Table | None = field(default=None, repr=False)
    schema: pa.Schema = field(init=False)

    def __post_init__(self) -> None:
        if self.table is None and self.path is not None and table_format(self.path) == "parquet":
            self.schema = _parquet_schema(self.path)
            return
        if self.table is None and self.path is not None:
            self.table = _read_whole(self.path)
        if self.table is None:
            raise InvalidInputError("A TableSource needs a table file or a table in memory.")
        self.schema = self.table.schema

    @classmethod
    def in_memory(cls, table: pa.Table, label: str = "(table)") -> TableSource:
        """An Arrow table already in memory (tests, notebooks)."""
        return cls(label, None, table=table)

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    def column(self, name: str) -> pa.ChunkedArray:
        """The column ``name`` (read from disk now for Parquet)."""
        if self.table is not None:
            return self.table.column(name)
        import pyarrow.parquet as pq

        try:  # ParquetFile, not read_table: that one imports pyarrow.dataset and pandas
            with pq.ParquetFile(self.path) as parquet:
                return parquet.read(columns=[name], use_threads=False).column(0)
        except (pa.ArrowException, OSError) as exc:
            raise TableFormatError(
                f"{self.path}: column '{name}' cannot be read ({exc}); the file is truncated "
                "or corrupted, re-export it"
            ) from exc


def open_table(path: str | Path, *, label: str | None = None) -> TableSource:
    """A table file as a :class:`TableSource`; TableFormatError if it is not a readable table."""
    file = Path(path)
    if table_format(file) is None:
        allowed = ", ".join(sorted(TABLE_EXTENSIONS))
        raise TableFormatError(f"{file}: not a table file; table extensions are {allowed}")
    if not file.is_file():
        raise TableFormatError(
            f"{file}: no such file (expected a table: {', '.join(sorted(TABLE_EXTENSIONS))})"
        )
    return TableSource(label or str(file), file)


def resolve_table(
    text: str,
    *,
    role: str,
    client: ClientFactory,
    table: str | None = None,
    allow_model: bool = True,
) -> TableSource:
    """The table ``text`` names (a file, a dataset version, or ``models:/…`` when
    ``allow_model``). ``role`` ("reference", "current") words the errors; ``table`` picks a
    table of a dataset version that holds several; ``client`` opens the project when needed."""
    if not text.strip():
        raise InvalidInputError(
            f"The {role} is empty: give a table file, NAME@VERSION or models:/NAME@ALIAS."
        )
    if Path(text).exists() or table_format(text) is not None:
        return open_table(text)
    if text.startswith(MODELS_SCHEME):
        if not allow_model:
            raise InvalidInputError(
                f"The {role} cannot be a model ({text}): give a table file or a dataset "
                "version (NAME@VERSION)."
            )
        return _model_reference(text, client(), table)
    active = client()
    try:
        name, number = parse_dataset_ref(text)
    except InvalidInputError as exc:
        raise InvalidInputError(
            f"The {role} {text!r}: {exc.message}{_model_hint(text, active)}"
        ) from exc
    try:
        return _dataset_table(f"{name}@{number}" if number else name, active, table)
    except NotFoundError as exc:
        raise NotFoundError(
            f"The {role} {text!r}: {exc.message}{_model_hint(text, active)}"
        ) from exc


def _model_reference(text: str, active: Client, table: str | None) -> TableSource:
    from loopml.models.registry import get

    version = get(str(parse_model_ref(text)), client=active)
    label = f"{version.model}@{version.version}"
    if not version.datasets:
        raise InvalidInputError(
            f"Model version {label} names no dataset version it was trained on (it was "
            "registered without a run, or its run read no dataset through loopml.data). Give "
            "the reference yourself: --reference NAME@VERSION or a table file."
        )
    if len(version.datasets) > 1:
        listed = ", ".join(version.datasets)
        raise InvalidInputError(
            f"Model version {label} was trained on several dataset versions ({listed}); say "
            f"which one is the reference, e.g. --reference {version.datasets[0]}."
        )
    source = _dataset_table(version.datasets[0], active, table)
    source.label = f"{text} → {source.label}"
    return source


def _dataset_table(ref: str, active: Client, table: str | None) -> TableSource:
    from loopml.data.versions import get

    handle = get(ref, client=active)
    tables = handle.tables()
    if table is not None and table not in tables:
        listed = ", ".join(tables) or "none"
        raise NotFoundError(f"{handle.ref} has no table {table!r}. Its tables: {listed}.")
    if table is None and len(tables) != 1:
        if not tables:
            raise InvalidInputError(
                f"{handle.ref} holds no table file (CSV, Parquet or JSON lines)."
            )
        raise InvalidInputError(
            f"{handle.ref} holds {len(tables)} tables ({', '.join(tables[:5])}); say which "
            f"one with --table, e.g. --table {tables[0]}."
        )
    chosen = table if table is not None else tables[0]
    profile = handle.profiles().get(chosen)
    source = TableSource(f"{handle.ref}", handle.path() / chosen, profile)
    if len(tables) > 1:
        source.label = f"{handle.ref}:{chosen}"
    return source


def _model_hint(text: str, active: Client) -> str:
    name = text.partition("@")[0]
    try:
        active.metadata.get_registered_model(name)
    except (NotFoundError, InvalidInputError):
        return ""
    return (
        f" A model is named {name!r}: for the data it was trained on, write {MODELS_SCHEME}{text}."
    )


def _parquet_schema(path: Path) -> pa.Schema:
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise TableFormatError(
            f"{path}: not a readable Parquet file (truncated or corrupted footer: {exc}); "
            "re-export the file"
        ) from exc


def _read_whole(path: Path) -> pa.Table:
    from loopml.data.tables import read_batches

    batches = list(read_batches(path))
    return pa.Table.from_batches(batches)
