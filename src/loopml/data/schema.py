"""A dataset schema: what new data must look like. Inferred from a profile, saved and edited as
YAML, checked by :func:`loopml.data.validation.validate`.

The YAML format (``schema_to_yaml`` writes it with a commented header; flow mappings such as
``- {name: id, type: integer}`` are read too)::

    version: 1
    columns:
    - name: order_id
      type: integer          # numeric, integer, categorical, boolean, datetime, text
      nullable: false
      min: 1                 # numbers, or ISO datetimes for datetime columns; inclusive
      unique: true
    - name: price
      type: numeric
      nullable: false
      min: 0.0
      max: 999.5
    - name: status
      type: categorical
      nullable: true
      allowed: [a, b]
      max_missing_fraction: 0.1
    - name: quantity
      type: integer
      nullable: true
    unique:                  # column sets whose combined values must be unique
    - [status, quantity]
    checks:                  # row expressions, see :mod:`loopml.data.expressions`
    - name: positive_total
      expr: quantity * price < 1e6
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime

import yaml

from loopml.core.errors import SchemaError as SchemaError
from loopml.core.yaml_nodes import YamlReader
from loopml.data.expressions import ExpressionError, Node, parse_expression
from loopml.data.profiles import ColumnProfile, LogicalType, TableProfile

Bound = int | float | str | None
SCHEMA_VERSION = 1
_RANGED = (LogicalType.NUMERIC, LogicalType.INTEGER, LogicalType.DATETIME)
_CATEGORICAL = (LogicalType.CATEGORICAL, LogicalType.TEXT)


@dataclass(frozen=True)
class ColumnSchema:
    name: str
    type: LogicalType
    nullable: bool = True
    min: Bound = None  # numbers, or ISO datetimes for datetime columns
    max: Bound = None
    allowed: list[str] | None = None  # the only categories allowed
    unique: bool = False
    max_missing_fraction: float | None = None


@dataclass(frozen=True)
class RowCheck:
    """A named row expression that must hold (or be null) for every row."""

    name: str
    expr: str

    def parsed(self, columns: list[str] | None = None) -> Node:
        return parse_expression(self.expr, columns=columns)


@dataclass(frozen=True)
class Schema:
    columns: list[ColumnSchema]
    unique: list[list[str]] = field(default_factory=list)
    checks: list[RowCheck] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict, compare=False)
    """Per column, how its rules were inferred (written as YAML comments, never read back)."""

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise SchemaError(f"Column {name!r} is listed twice; column names are unique")
        for column_set in self.unique:
            for name in column_set:
                if name not in names:
                    raise SchemaError(f"unique: unknown column {name!r}; columns: {names}")
        for check in self.checks:
            try:
                check.parsed(names)
            except ExpressionError as exc:
                raise SchemaError(f"checks: {check.name}: {exc.message}") from exc

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSchema:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


MIN_ROWS_FOR_RANGE = 20  # fewer values say too little about the range of the next batch
MAX_ALLOWED_CATEGORIES = 20  # a categorical column with more is not "low-cardinality"


def infer_schema(profile: TableProfile) -> Schema:
    """A schema that the profiled data and the next batches like it satisfy: types,
    nullability, allowed sets of low-cardinality categorical columns, and number ranges
    widened beyond what was seen. Each column's ``notes`` (a comment in the YAML) say what was
    inferred from what.

    Tolerant by design: a range is widened by half its span on each side (a column never
    below zero stays so), left out with fewer than :data:`MIN_ROWS_FOR_RANGE` values, for a
    constant column and for datetimes (new data is newer); an allowed set is inferred only
    when every category was seen and each about twice; ``unique`` is never inferred (all
    distinct in one sample does not make an id) — add it by hand.
    """
    columns = []
    notes = {}
    for col in profile.columns:
        low, high, range_note = _range(col)
        allowed, allowed_note = _allowed(col)
        nullable = col.missing > 0
        seen = (
            f"{col.missing} missing of {col.count}" if nullable else f"none missing of {col.count}"
        )
        notes[col.name] = "; ".join(
            part
            for part in (f"inferred: {col.logical_type.value}, {seen}", range_note, allowed_note)
            if part
        )
        columns.append(
            ColumnSchema(
                name=col.name,
                type=col.logical_type,
                nullable=nullable,
                min=low,
                max=high,
                allowed=allowed,
            )
        )
    return Schema(columns=columns, notes=notes)


def _range(col: ColumnProfile) -> tuple[Bound, Bound, str]:
    """The column's range widened by half its span (rounded outwards), and a note."""
    if col.logical_type is LogicalType.DATETIME:
        return (
            None,
            None,
            f"seen {col.min} to {col.max}; no range for datetimes (new data is newer)",
        )
    if col.logical_type not in (LogicalType.NUMERIC, LogicalType.INTEGER):
        return None, None, ""
    low, high = col.min, col.max
    if not isinstance(low, int | float) or not isinstance(high, int | float):
        return None, None, ""
    values = col.count - col.missing
    seen = f"seen {_number_text(low)} to {_number_text(high)}"
    if values < MIN_ROWS_FOR_RANGE:
        return None, None, f"{seen}; no range from fewer than {MIN_ROWS_FOR_RANGE} values"
    span = high - low
    if span <= 0 or not math.isfinite(span):
        return None, None, f"{seen}; no range for a constant column"
    margin = span / 2
    step = 10.0 ** (math.floor(math.log10(margin)) - 1)
    wide_low = math.floor((low - margin) / step) * step
    wide_high = math.ceil((high + margin) / step) * step
    if low >= 0 > wide_low:
        wide_low = 0.0
    if col.logical_type is LogicalType.INTEGER:
        return (
            math.floor(wide_low),
            math.ceil(wide_high),
            f"{seen}, widened by half the span",
        )
    return _tidy(wide_low), _tidy(wide_high), f"{seen}, widened by half the span"


def _allowed(col: ColumnProfile) -> tuple[list[str] | None, str]:
    if col.logical_type is not LogicalType.CATEGORICAL:
        return None, ""
    every_one_seen = col.distinct_is_exact and 0 < col.distinct <= len(col.top_categories)
    low_cardinality = col.distinct <= MAX_ALLOWED_CATEGORIES
    often_enough = col.count - col.missing >= 2 * col.distinct
    if every_one_seen and low_cardinality and often_enough:
        return [c.value for c in col.top_categories], f"allowed: the {col.distinct} categories seen"
    return None, f"{col.distinct} categories: too many or too rarely seen for an allowed set"


def _tidy(value: float) -> float:
    return float(f"{value:.12g}")


def _number_text(value: float) -> str:
    return f"{value:.6g}"


_HEADER = """\
# loopml dataset schema (version 1): what new data must look like.
# columns: one entry per column.
#   name, type (numeric | integer | categorical | boolean | datetime | text),
#   nullable (may values be missing?), min / max (numbers, or ISO datetimes; inclusive),
#   allowed (the only categories allowed), unique (no value twice),
#   max_missing_fraction (0..1: the largest share of missing values tolerated).
# unique: column sets whose combined values must be unique, e.g. [[customer, day]].
# checks: named row expressions that must hold for every row, e.g.
#   {name: positive_total, expr: "quantity * price < 1e6"}; operators: + - * /,
#   == != < <= > >=, in (...), not in (...), is null, is not null, and, or, not, ( ).
#   A row whose inputs are missing passes the check.
# An inferred schema is tolerant: ranges widened by half their span (or left out), allowed
# sets only for low-cardinality columns, unique never; the comment above a column says
# what was seen. Tighten what you know.
"""


def schema_to_yaml(schema: Schema) -> str:
    """The schema as commented, stable YAML; :func:`schema_from_yaml` reads it back exactly."""
    parts = [_HEADER, _dump({"version": SCHEMA_VERSION}), "columns:\n"]
    for col in schema.columns:
        entry: dict[str, object] = {"name": col.name, "type": col.type.value}
        entry["nullable"] = col.nullable
        for key in ("min", "max", "allowed", "max_missing_fraction"):
            if getattr(col, key) is not None:
                entry[key] = getattr(col, key)
        if col.unique:
            entry["unique"] = True
        note = schema.notes.get(col.name)
        if note:
            parts.append(f"# {' '.join(note.split())}\n")
        parts.append(_dump([entry]))
    if not schema.columns:
        parts[-1] = "columns: []\n"
    document: dict[str, object] = {"unique": [list(s) for s in schema.unique]}
    document["checks"] = [{"name": c.name, "expr": c.expr} for c in schema.checks]
    parts.append(_dump(document))
    return "".join(parts)


def _dump(value: object) -> str:
    text = yaml.dump(value, Dumper=_SchemaDumper, sort_keys=False, allow_unicode=True, width=100)
    return str(text)


class _SchemaDumper(yaml.SafeDumper):  # type: ignore[misc]
    """Block style for mappings, flow style (``[a, b]``) for lists of plain values."""


def _represent_list(dumper: yaml.SafeDumper, data: list[object]) -> object:
    flow = all(not isinstance(item, list | dict) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_SchemaDumper.add_representer(list, _represent_list)


_COLUMN_KEYS = (
    "name",
    "type",
    "nullable",
    "min",
    "max",
    "allowed",
    "unique",
    "max_missing_fraction",
)
_TOP_KEYS = ("version", "columns", "unique", "checks")
_CHECK_KEYS = ("name", "expr")


def _read_column(reader: YamlReader, node: object, where: str) -> ColumnSchema:
    fields = reader.mapping(node, where, _COLUMN_KEYS)
    for required in ("name", "type"):
        if required not in fields:
            raise reader.error(node, where, f"missing key {required!r}")
    name = reader.text(fields["name"], f"{where}.name")
    type_node = fields["type"]
    type_text = reader.text(type_node, f"{where}.type")
    if type_text not in set(LogicalType):
        allowed = ", ".join(t.value for t in LogicalType)
        raise reader.error(
            type_node, f"{where}.type", f"unknown logical type {type_text!r}; allowed: {allowed}"
        )
    logical_type = LogicalType(type_text)
    values: dict[str, object] = {}
    for key in ("nullable", "unique"):
        if key in fields:
            values[key] = reader.scalar(fields[key], f"{where}.{key}", (bool,), "true or false")
    for key in ("min", "max"):
        if key in fields:
            if logical_type not in _RANGED:
                raise reader.error(
                    fields[key],
                    f"{where}.{key}",
                    f"{key} applies to numeric, integer and "
                    f"datetime columns, not {logical_type.value}",
                )
            wanted = (str,) if logical_type is LogicalType.DATETIME else (int, float)
            what = "an ISO datetime" if wanted == (str,) else "a number"
            bound = reader.scalar(fields[key], f"{where}.{key}", wanted, what)
            if isinstance(bound, str):
                try:
                    datetime.fromisoformat(bound)
                except ValueError:
                    raise reader.error(
                        fields[key], f"{where}.{key}", f"{bound!r} is not an ISO datetime"
                    ) from None
            values[key] = bound
    if "allowed" in fields:
        if logical_type not in _CATEGORICAL:
            raise reader.error(
                fields["allowed"],
                f"{where}.allowed",
                f"allowed applies to categorical and text columns, not {logical_type.value}",
            )
        items = reader.sequence(fields["allowed"], f"{where}.allowed", "categories")
        values["allowed"] = [
            str(reader.scalar(item, f"{where}.allowed[{i}]", (str, int, float), "a category"))
            for i, item in enumerate(items)
        ]
    if "max_missing_fraction" in fields:
        fraction_node = fields["max_missing_fraction"]
        where_fraction = f"{where}.max_missing_fraction"
        fraction = reader.scalar(fraction_node, where_fraction, (int, float), "a number")
        if not isinstance(fraction, int | float) or not 0 <= fraction <= 1:
            raise reader.error(fraction_node, where_fraction, "expected a number from 0 to 1")
        values["max_missing_fraction"] = float(fraction)
    column = ColumnSchema(name=name, type=logical_type)
    minimum, maximum = values.get("min"), values.get("max")
    if isinstance(minimum, int | float) and isinstance(maximum, int | float) and minimum > maximum:
        raise reader.error(fields["min"], f"{where}.min", f"min {minimum} is above max {maximum}")
    return replace(column, **values)  # type: ignore[arg-type]


def _read_check(reader: YamlReader, node: object, where: str, names: list[str]) -> RowCheck:
    fields = reader.mapping(node, where, _CHECK_KEYS)
    for required in _CHECK_KEYS:
        if required not in fields:
            raise reader.error(node, where, f"missing key {required!r}")
    name = reader.text(fields["name"], f"{where}.name")
    expr_node = fields["expr"]
    expr = reader.text(expr_node, f"{where}.expr")
    try:
        parse_expression(expr, columns=names)
    except ExpressionError as exc:
        style = getattr(expr_node, "style", None)
        single_line = "\n" not in expr and style in (None, "", "'", '"')
        offset = exc.position + (1 if style in ("'", '"') else 0) if single_line else 0
        raise reader.error(expr_node, f"{where}.expr", exc.message, offset) from exc
    return RowCheck(name=name, expr=expr)


def schema_from_yaml(text: str, *, source: str = "<schema>") -> Schema:
    """Read a schema written by :func:`schema_to_yaml` (or by hand).

    Errors name ``source``, the line and column, and the field, e.g.
    ``schema.yaml:7:11: columns[1].type: unknown logical type 'float'; allowed: ...``.
    """
    reader = YamlReader(source, SchemaError)
    root = reader.compose(text)
    if root is None:
        raise SchemaError(f"{source}:1:1: the schema is empty; expected a 'columns' list")
    top = reader.mapping(root, "schema", _TOP_KEYS)
    if "version" in top:
        version = reader.scalar(top["version"], "version", (int,), "an integer")
        if version != SCHEMA_VERSION or isinstance(version, bool):
            raise reader.error(
                top["version"],
                "version",
                f"unsupported version {version}; this loopml reads version {SCHEMA_VERSION}",
            )
    if "columns" not in top:
        raise reader.error(root, "schema", "missing key 'columns'")
    columns: list[ColumnSchema] = []
    for i, item in enumerate(reader.sequence(top["columns"], "columns", "columns")):
        column = _read_column(reader, item, f"columns[{i}]")
        if column.name in [c.name for c in columns]:
            raise reader.error(item, f"columns[{i}].name", f"column {column.name!r} listed twice")
        columns.append(column)
    names = [c.name for c in columns]
    unique: list[list[str]] = []
    for i, item in enumerate(reader.sequence(top.get("unique", _EMPTY), "unique", "lists")):
        members = reader.sequence(item, f"unique[{i}]", "column names")
        column_set = []
        for j, member in enumerate(members):
            member_name = reader.text(member, f"unique[{i}][{j}]")
            if member_name not in names:
                raise reader.error(
                    member,
                    f"unique[{i}][{j}]",
                    f"unknown column {member_name!r}; columns: {', '.join(names)}",
                )
            column_set.append(member_name)
        if not column_set:
            raise reader.error(item, f"unique[{i}]", "expected at least one column name")
        unique.append(column_set)
    checks = [
        _read_check(reader, item, f"checks[{i}]", names)
        for i, item in enumerate(reader.sequence(top.get("checks", _EMPTY), "checks", "checks"))
    ]
    return Schema(columns=columns, unique=unique, checks=checks)


_EMPTY = yaml.SequenceNode(tag="tag:yaml.org,2002:seq", value=[])
