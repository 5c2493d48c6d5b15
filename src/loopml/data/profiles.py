"""What a table profile holds. Computed by :mod:`loopml.data.profiling`, stored as JSON with
each dataset version, read back by schema inference, validation, diffs and (later) drift.

Histogram bin edges are stored so that later data can be binned the same way (the reference
for drift). ``to_dict``/``from_dict`` round-trip exactly through JSON (NaN-free: absent
statistics are None).
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class LogicalType(enum.StrEnum):
    NUMERIC = "numeric"  # floating point
    INTEGER = "integer"
    CATEGORICAL = "categorical"  # strings with few distinct values
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    TEXT = "text"  # strings with many distinct values


@dataclass(frozen=True, slots=True)
class Histogram:
    """``counts[i]`` values fall in ``[edges[i], edges[i+1])`` (the last bin is closed)."""

    edges: list[float]
    counts: list[int]


@dataclass(frozen=True, slots=True)
class CategoryCount:
    value: str
    count: int


@dataclass(frozen=True)
class ColumnProfile:
    name: str
    logical_type: LogicalType
    physical_type: str  # the Arrow type, e.g. "int64", "string", "timestamp[us]"
    count: int  # rows, missing included
    missing: int
    distinct: int
    distinct_is_exact: bool = True
    min: float | str | None = None  # numbers as float; datetimes and strings as ISO/text
    max: float | str | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)  # "0.25" -> value
    histogram: Histogram | None = None
    top_categories: list[CategoryCount] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["logical_type"] = self.logical_type.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnProfile:
        values = dict(data)
        values["logical_type"] = LogicalType(values["logical_type"])
        hist = values.get("histogram")
        values["histogram"] = Histogram(**hist) if hist else None
        values["top_categories"] = [CategoryCount(**c) for c in values.get("top_categories", [])]
        return cls(**values)


@dataclass(frozen=True)
class TableProfile:
    rows: int
    columns: list[ColumnProfile]
    source_format: str = ""  # "csv", "parquet", "jsonl"

    def column(self, name: str) -> ColumnProfile:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "source_format": self.source_format,
            "columns": [c.to_dict() for c in self.columns],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableProfile:
        return cls(
            rows=int(data["rows"]),
            source_format=str(data.get("source_format", "")),
            columns=[ColumnProfile.from_dict(c) for c in data["columns"]],
        )
