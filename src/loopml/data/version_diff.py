"""What changed between two dataset versions, computed from what is stored (no data re-read):
files by digest, and for every table in both versions its schema, row count and per-column
statistics side by side with a drift score (:mod:`loopml.data.drift`).

>>> d = diff("iris@1", "iris@2")  # doctest: +SKIP
>>> [c.name for c in d.table("iris.csv").columns if c.drift and c.drift.verdict != "stable"]
['sepal']
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields, is_dataclass
from typing import TYPE_CHECKING

from loopml.core.errors import NotFoundError
from loopml.data.drift import ColumnDrift, column_drift
from loopml.data.profiles import ColumnProfile, TableProfile
from loopml.data.versions import VersionHandle, get

if TYPE_CHECKING:
    from loopml.tracking.client import Client

__all__ = [
    "ColumnDiff",
    "ColumnStats",
    "DatasetDiff",
    "FileChange",
    "FilesDiff",
    "SchemaChange",
    "SchemaChangeKind",
    "TableDiff",
    "diff",
]

SHOWN_QUANTILES = ("0.05", "0.25", "0.5", "0.75", "0.95")
SHOWN_CATEGORIES = 5


class SchemaChangeKind(enum.StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    TYPE_CHANGED = "type_changed"
    NULLABILITY_CHANGED = "nullability_changed"


@dataclass(frozen=True)
class FileChange:
    """One file on either side; the side it is missing from has None."""

    path: str
    size_a: int | None
    size_b: int | None
    digest_a: str | None
    digest_b: str | None


@dataclass(frozen=True)
class FilesDiff:
    added: tuple[FileChange, ...]
    removed: tuple[FileChange, ...]
    changed: tuple[FileChange, ...]  # same path, different content
    unchanged: int


@dataclass(frozen=True)
class SchemaChange:
    """``before``/``after`` are logical types, or "nullable"/"not null"; None when absent."""

    column: str
    kind: SchemaChangeKind
    before: str | None
    after: str | None


@dataclass(frozen=True)
class ColumnStats:
    """The statistics of one column in one version, as shown side by side."""

    logical_type: str
    count: int
    missing_fraction: float
    distinct: int
    distinct_is_exact: bool
    mean: float | None
    std: float | None
    min: float | str | None
    max: float | str | None
    quantiles: dict[str, float]
    top_categories: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, column: ColumnProfile) -> ColumnStats:
        return cls(
            logical_type=column.logical_type.value,
            count=column.count,
            missing_fraction=column.missing / column.count if column.count else 0.0,
            distinct=column.distinct,
            distinct_is_exact=column.distinct_is_exact,
            mean=column.mean,
            std=column.std,
            min=column.min,
            max=column.max,
            quantiles={q: column.quantiles[q] for q in SHOWN_QUANTILES if q in column.quantiles},
            top_categories=tuple(
                (c.value, c.count) for c in column.top_categories[:SHOWN_CATEGORIES]
            ),
        )


@dataclass(frozen=True)
class ColumnDiff:
    """A column in either version; ``drift`` is None when it cannot be scored (see
    :func:`~loopml.data.drift.column_drift`) or the column is only on one side."""

    name: str
    a: ColumnStats | None
    b: ColumnStats | None
    drift: ColumnDrift | None


@dataclass(frozen=True)
class TableDiff:
    path: str
    rows_a: int
    rows_b: int
    schema_changes: tuple[SchemaChange, ...]
    columns: tuple[ColumnDiff, ...]

    def column(self, name: str) -> ColumnDiff:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


@dataclass(frozen=True)
class DatasetDiff:
    """Version ``a`` (the reference) against version ``b``; drift is b measured against a."""

    a: str
    b: str
    files: FilesDiff
    tables: tuple[TableDiff, ...]  # the tables present in both versions, by path

    def table(self, path: str) -> TableDiff:
        for table in self.tables:
            if table.path == path:
                return table
        listed = ", ".join(t.path for t in self.tables) or "none"
        raise NotFoundError(
            f"No table {path!r} in both {self.a} and {self.b}. Tables in both: {listed}."
        )

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready values (lists, dicts, strings, numbers, None)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


def diff(
    a: VersionHandle | str, b: VersionHandle | str, *, client: Client | None = None
) -> DatasetDiff:
    """Compare dataset version ``a`` (the reference) with ``b``: handles or refs such as
    ``"iris@1"``. Uses the stored tree and profiles of each version only.

    >>> diff("iris@1", "iris@latest").files.changed  # doctest: +SKIP
    """
    first = get(a, client=client) if isinstance(a, str) else a
    second = get(b, client=client) if isinstance(b, str) else b
    profiles_a, profiles_b = first.profiles(), second.profiles()
    tables = tuple(
        _table_diff(path, profiles_a[path], profiles_b[path])
        for path in sorted(profiles_a.keys() & profiles_b.keys())
    )
    return DatasetDiff(first.ref, second.ref, _files_diff(first, second), tables)


def _files_diff(a: VersionHandle, b: VersionHandle) -> FilesDiff:
    before = {entry.path: entry for entry in a.files()}
    after = {entry.path: entry for entry in b.files()}
    added: list[FileChange] = []
    removed: list[FileChange] = []
    changed: list[FileChange] = []
    unchanged = 0
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path), after.get(path)
        if old is not None and new is not None and old.digest == new.digest:
            unchanged += 1
            continue
        change = FileChange(
            path=path,
            size_a=old.size if old else None,
            size_b=new.size if new else None,
            digest_a=str(old.digest) if old else None,
            digest_b=str(new.digest) if new else None,
        )
        (removed if new is None else added if old is None else changed).append(change)
    return FilesDiff(tuple(added), tuple(removed), tuple(changed), unchanged)


def _table_diff(path: str, a: TableProfile, b: TableProfile) -> TableDiff:
    columns_a = {c.name: c for c in a.columns}
    columns_b = {c.name: c for c in b.columns}
    names = [*columns_a, *(name for name in columns_b if name not in columns_a)]
    changes: list[SchemaChange] = []
    columns: list[ColumnDiff] = []
    for name in names:
        old, new = columns_a.get(name), columns_b.get(name)
        changes.extend(_schema_changes(name, old, new))
        drift = column_drift(old, new) if old is not None and new is not None else None
        columns.append(
            ColumnDiff(
                name=name,
                a=ColumnStats.of(old) if old is not None else None,
                b=ColumnStats.of(new) if new is not None else None,
                drift=drift,
            )
        )
    return TableDiff(path, a.rows, b.rows, tuple(changes), tuple(columns))


def _schema_changes(
    name: str, old: ColumnProfile | None, new: ColumnProfile | None
) -> list[SchemaChange]:
    if old is None:
        after = new.logical_type.value if new is not None else None
        return [SchemaChange(name, SchemaChangeKind.ADDED, None, after)]
    if new is None:
        return [SchemaChange(name, SchemaChangeKind.REMOVED, old.logical_type.value, None)]
    changes = []
    if old.logical_type is not new.logical_type:
        kind = SchemaChangeKind.TYPE_CHANGED
        changes.append(SchemaChange(name, kind, old.logical_type.value, new.logical_type.value))
    if (old.missing > 0) != (new.missing > 0):
        kind = SchemaChangeKind.NULLABILITY_CHANGED
        changes.append(SchemaChange(name, kind, _nullability(old), _nullability(new)))
    return changes


def _nullability(column: ColumnProfile) -> str:
    """As in an inferred schema: nullable when the version had a missing value."""
    return "nullable" if column.missing > 0 else "not null"


def _plain(value: object) -> object:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
