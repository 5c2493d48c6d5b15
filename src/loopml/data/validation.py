"""Check data against a :class:`~loopml.data.schema.Schema`, streaming over record batches.

Memory stays bounded by one batch, except for uniqueness, which must see the whole data: for
each unique column or column set a set of 64-bit key hashes is kept (about 70 bytes per
distinct key in CPython, so 10 million rows cost about 700 MB per unique rule). Hashes are
Python's ``hash`` of the values, so a false duplicate needs a 64-bit collision (about 1 in
3,000 for 100 million keys). Rows with a missing key value are not checked for uniqueness.

Rules (``RuleFailure.rule``): ``missing_column``, ``extra_column`` (a warning unless
``extra_columns="fail"``), ``type`` (a value that is not of the column's logical type, e.g.
text in a numeric column; such values skip the value rules), ``not_null``, ``min``, ``max``,
``allowed``, ``unique``, ``row_check``, ``max_missing``. NaN counts as missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from loopml.data.expressions import columns_of, compile_expression
from loopml.data.profiles import LogicalType
from loopml.data.schema import ColumnSchema, RowCheck, Schema

MAX_EXAMPLES = 5
_NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$|^\s*[-+]?(inf|nan)\s*$"
_INTEGER = r"^\s*[-+]?\d+\s*$"
_BOOLEAN = r"^(true|false|True|False|TRUE|FALSE|1|0)$"
_DATETIME = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"


@dataclass(frozen=True)
class RuleFailure:
    """One rule broken by ``failed_rows`` rows; ``first_rows`` are 1-based row numbers."""

    column: str | None  # None for row checks; "a, b" for a unique column set
    rule: str
    failed_rows: int
    examples: list[str]
    first_rows: list[int]
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ValidationReport:
    ok: bool
    rows: int
    failures: list[RuleFailure]
    warnings: list[RuleFailure] = field(default_factory=list)
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "source": self.source,
            "rows": self.rows,
            "failures": [f.to_dict() for f in self.failures],
            "warnings": [w.to_dict() for w in self.warnings],
        }

    def render_text(self) -> str:
        """A report for people: one block per broken rule, with counts and examples."""
        name = self.source or "data"
        verdict = "OK" if self.ok else "FAILED"
        lines = [
            f"{verdict}: {name}: {self.rows:,} rows checked, {len(self.failures)} rules "
            f"failed, {len(self.warnings)} warnings"
        ]
        for mark, items in (("✗", self.failures), ("!", self.warnings)):
            for item in items:
                where = f"column {item.column}" if item.column is not None else "rows"
                count = f"{item.failed_rows:,} row{'' if item.failed_rows == 1 else 's'}"
                lines.append(f"  {mark} {where} · {item.rule} · {count}: {item.message}")
                if item.examples:
                    lines.append(f"      examples: {', '.join(item.examples)}")
                if item.first_rows:
                    lines.append(f"      first rows: {', '.join(map(str, item.first_rows))}")
        return "\n".join(lines)


class _Tally:
    """Counts one rule's failures across batches, remembering the first rows and examples."""

    def __init__(self, column: str | None, rule: str, message: str) -> None:
        self.column, self.rule, self.message = column, rule, message
        self.count = 0
        self.examples: list[str] = []
        self.first_rows: list[int] = []

    def add(self, failed: Any, offset: int, values: Any = None) -> None:
        """``failed``: a boolean array (null = passed); ``values``: what to show per row."""
        mask = np.asarray(pc.fill_null(failed, False).to_numpy(zero_copy_only=False), dtype=bool)
        indices = np.flatnonzero(mask)
        self.count += int(indices.size)
        if indices.size == 0:
            return
        room = MAX_EXAMPLES - len(self.first_rows)
        self.first_rows.extend(offset + int(i) + 1 for i in indices[:room])
        if values is not None and len(self.examples) < MAX_EXAMPLES:
            for shown in _show(values, indices[: MAX_EXAMPLES * 10]):
                if shown not in self.examples and len(self.examples) < MAX_EXAMPLES:
                    self.examples.append(shown)

    def add_rows(self, rows: int, offset: int) -> None:
        self.add(pa.array(np.ones(rows, dtype=bool)), offset)

    def result(self) -> RuleFailure:
        return RuleFailure(
            self.column, self.rule, self.count, self.examples, self.first_rows, self.message
        )


def _show(values: Any, indices: Any) -> list[str]:
    if isinstance(values, pa.RecordBatch):
        rows = values.take(pa.array(indices)).to_pylist()
        return ["(" + ", ".join(f"{k}={_text(v)}" for k, v in row.items()) + ")" for row in rows]
    return [_text(v) for v in values.take(pa.array(indices)).to_pylist()]


def _text(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value) if isinstance(value, str) else str(value)


def _where(pattern: str, array: Any) -> Any:
    """(values matching ``pattern`` or null, mask of present values that don't match)."""
    text = pc.cast(array, pa.string())
    matches = pc.match_substring_regex(text, pattern)
    return pc.if_else(matches, text, pa.scalar(None, pa.string())), pc.invert(matches)


def _parse_datetimes(text: Any) -> Any:
    try:
        return pc.cast(text, pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        parsed = []
        for value in text.to_pylist():  # offsets and "Z": the slow path, value by value
            moment = None if value is None else datetime.fromisoformat(value)
            if moment is not None and moment.tzinfo is not None:
                moment = moment.astimezone(UTC).replace(tzinfo=None)
            parsed.append(moment)
        return pa.array(parsed, pa.timestamp("us"))


def _coerce(array: Any, logical_type: LogicalType) -> tuple[Any, Any]:
    """``array`` as the logical type (bad values become null) and the mask of bad values.

    Returns ``(None, mask)`` when the Arrow type cannot hold the logical type at all.
    """
    kind = array.type
    if pa.types.is_dictionary(kind):
        array, kind = array.dictionary_decode(), kind.value_type
    is_text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    is_number = pa.types.is_integer(kind) or pa.types.is_floating(kind)
    none = pa.array(np.zeros(len(array), dtype=bool))
    if logical_type is LogicalType.NUMERIC:
        if is_number or pa.types.is_decimal(kind):
            return pc.cast(array, pa.float64()), none
        if is_text:
            good, bad = _where(_NUMBER, array)
            return pc.cast(good, pa.float64()), bad
    elif logical_type is LogicalType.INTEGER:
        if pa.types.is_integer(kind):
            return array, none
        if pa.types.is_floating(kind):
            whole = pc.equal(pc.floor(array), array)
            return pc.if_else(whole, array, pa.scalar(None, kind)), pc.invert(whole)
        if is_text:
            good, bad = _where(_INTEGER, array)
            return pc.cast(good, pa.int64()), bad
    elif logical_type is LogicalType.BOOLEAN:
        if pa.types.is_boolean(kind):
            return array, none
        if is_text or pa.types.is_integer(kind):
            good, bad = _where(_BOOLEAN, array)
            return pc.cast(pc.utf8_lower(good), pa.bool_()), bad
    elif logical_type is LogicalType.DATETIME:
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            return pc.cast(array, pa.timestamp("us")), none
        if is_text:
            good, bad = _where(_DATETIME, array)
            return _parse_datetimes(good), bad
    elif is_text or pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        return pc.cast(array, pa.string()), none
    return None, pc.is_valid(array)


def _bound_scalar(bound: int | float | str, logical_type: LogicalType) -> Any:
    if logical_type is not LogicalType.DATETIME:
        return pa.scalar(float(bound) if isinstance(bound, str) else bound)
    moment = datetime.fromisoformat(str(bound))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return pa.scalar(moment, pa.timestamp("us"))


def _allowed_types(logical_type: LogicalType) -> str:
    return {
        LogicalType.NUMERIC: "numbers",
        LogicalType.INTEGER: "whole numbers",
        LogicalType.BOOLEAN: "true/false",
        LogicalType.DATETIME: "ISO dates or datetimes",
    }.get(logical_type, "text")


class _ColumnRules:
    """The tallies of one schema column."""

    def __init__(self, column: ColumnSchema) -> None:
        self.column = column
        name = column.name
        self.missing_column = _Tally(name, "missing_column", "the column is missing")
        self.type = _Tally(
            name,
            "type",
            f"values are not {column.type.value} (allowed: {_allowed_types(column.type)})",
        )
        self.not_null = _Tally(name, "not_null", "missing values in a column that is not nullable")
        self.min = _Tally(name, "min", f"values below the minimum {column.min}")
        self.max = _Tally(name, "max", f"values above the maximum {column.max}")
        allowed = ", ".join(column.allowed or [])
        self.allowed = _Tally(name, "allowed", f"values not among the allowed: {allowed}")
        self.missing = _Tally(name, "max_missing", "")
        self.low = None if column.min is None else _bound_scalar(column.min, column.type)
        self.high = None if column.max is None else _bound_scalar(column.max, column.type)

    def check(self, array: Any, offset: int) -> Any:
        """Apply the column's rules to one batch; returns the coerced values (or None)."""
        column = self.column
        floating = pa.types.is_floating(array.type)
        missing = pc.is_null(array, nan_is_null=True) if floating else pc.is_null(array)
        self.missing.add(missing, offset)
        if not column.nullable:
            self.not_null.add(missing, offset)
        coerced, bad = _coerce(array, column.type)
        self.type.add(pc.and_(bad, pc.invert(missing)), offset, array)
        if coerced is None:
            return None
        if self.low is not None:
            self.min.add(pc.less(coerced, self.low), offset, coerced)
        if self.high is not None:
            self.max.add(pc.greater(coerced, self.high), offset, coerced)
        if column.allowed is not None:
            allowed = pa.array(column.allowed, pa.string())
            outside = pc.invert(pc.is_in(coerced, value_set=allowed))
            self.allowed.add(pc.and_(outside, pc.is_valid(coerced)), offset, coerced)
        return coerced

    def results(self, rows: int) -> list[_Tally]:
        limit = self.column.max_missing_fraction
        missing = self.missing
        tallies = [self.missing_column, self.type, self.not_null, self.min, self.max]
        tallies.append(self.allowed)
        if limit is not None and rows and missing.count / rows > limit:
            missing.message = (
                f"{missing.count / rows:.1%} of values are missing; at most {limit:.1%} allowed"
            )
            tallies.append(missing)
        return tallies


class _UniqueRule:
    """Duplicates of a column or column set over the whole data, by hashed keys."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        label = ", ".join(columns)
        what = "values" if len(columns) == 1 else "value combinations"
        self.tally = _Tally(label, "unique", f"duplicate {what}; they must be unique")
        self.seen: set[int] = set()

    def check(self, batch: Any, offset: int) -> None:
        if any(name not in batch.schema.names for name in self.columns):
            return  # reported as a missing column
        keys = batch.select(self.columns)
        lists = [keys.column(i).to_pylist() for i in range(len(self.columns))]
        single = len(lists) == 1
        duplicate = np.zeros(batch.num_rows, dtype=bool)
        seen, size = self.seen, len(self.seen)
        for row, key in enumerate(lists[0] if single else zip(*lists, strict=True)):
            if key is None or (not single and None in key):
                continue
            try:
                seen.add(hash(key))
            except TypeError:  # lists and structs: hash their text
                seen.add(hash(repr(key)))
            if len(seen) == size:
                duplicate[row] = True
            size = len(seen)
        shown = keys.column(0) if len(self.columns) == 1 else keys
        self.tally.add(pa.array(duplicate), offset, shown)


class _RowCheckRule:
    def __init__(self, check: RowCheck) -> None:
        parsed = check.parsed()
        self.inputs = columns_of(parsed)
        self.expression = compile_expression(parsed)
        self.tally = _Tally(None, "row_check", f"check {check.name!r} ({check.expr}) is false")
        self.errors: list[str] = []

    def check(self, batch: Any, offset: int) -> None:
        if any(name not in batch.schema.names for name in self.inputs):
            return  # reported as a missing column
        try:
            result = ds.dataset([batch]).to_table(
                columns={"result": self.expression}, use_threads=False
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            if not self.errors:
                self.errors.append(str(exc).splitlines()[0])
                self.tally.message += f"; it could not be evaluated: {self.errors[0]}"
            self.tally.add_rows(batch.num_rows, offset)
            return
        passed = result.column("result").combine_chunks()
        self.tally.add(pc.invert(passed), offset, batch.select(self.inputs))


def validate(
    batches: Iterable[pa.RecordBatch],
    schema: Schema,
    *,
    source: str = "",
    extra_columns: Literal["warn", "fail"] = "warn",
) -> ValidationReport:
    """Check record batches against ``schema``; ``report.ok`` is False if any rule failed.

    Columns not in the schema are a warning by default (``extra_columns="fail"`` makes them
    failures). Row checks see the columns as their logical types, bad values as null.
    """
    columns = [_ColumnRules(c) for c in schema.columns]
    uniques = [_UniqueRule([c.name]) for c in schema.columns if c.unique]
    uniques += [_UniqueRule(list(names)) for names in schema.unique]
    checks = [_RowCheckRule(c) for c in schema.checks]
    extras: dict[str, _Tally] = {}
    expected = set(schema.column_names)
    rows = 0
    for batch in batches:
        present = set(batch.schema.names)
        for name in sorted(present - expected):
            if name not in extras:
                ignored = " (ignored)" if extra_columns == "warn" else ""
                extras[name] = _Tally(
                    name, "extra_column", f"the column is not in the schema{ignored}"
                )
            extras[name].add_rows(batch.num_rows, rows)
        arrays, names = [], []
        for rules in columns:
            name = rules.column.name
            if name not in present:
                rules.missing_column.add_rows(batch.num_rows, rows)
                continue
            coerced = rules.check(batch.column(name), rows)
            if coerced is not None:
                arrays.append(coerced)
                names.append(name)
        for unique in uniques:
            unique.check(batch, rows)
        typed = pa.RecordBatch.from_arrays(arrays, names=names)
        for check in checks:
            check.check(typed, rows)
        rows += batch.num_rows
    tallies = [t for rules in columns for t in rules.results(rows)]
    tallies += [u.tally for u in uniques] + [c.tally for c in checks]
    failures = [t.result() for t in tallies if t.count]
    extra = [t.result() for t in extras.values()]
    if extra_columns == "fail":
        failures, extra = failures + extra, []
    return ValidationReport(
        ok=not failures, rows=rows, failures=failures, warnings=extra, source=source
    )
