"""The run search language: parse text into a small AST that each backend compiles.

Grammar (case-insensitive keywords)::

    filter     := clause ("and" clause)*
    clause     := field op value
    field      := ("metrics" | "params" | "tags") "." key | "attributes." attr | attr
    attr       := "status" | "name" | "start_time" | "end_time" | "duration" | "run_id"
                | "parent_run_id"
    op         := "=" | "!=" | "<" | "<=" | ">" | ">=" | "like" | "ilike"
    value      := number | 'single-quoted' | "double-quoted"

``duration`` is ``end_time - start_time`` in milliseconds (none while a run is running).
Keys with unusual characters may be back-quoted: ``metrics.`val/loss` < 0.2``.
A filter holds at most ``MAX_FILTER_CLAUSES`` clauses and an order at most
``MAX_ORDER_BY_KEYS`` keys (:mod:`loopml.core.query_limits`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from loopml.core.errors import FilterSyntaxError
from loopml.core.query_limits import check_clause_count, check_order_by_count

Kind = Literal["metric", "param", "tag", "attribute"]
ATTRIBUTES = (
    "status",
    "name",
    "start_time",
    "end_time",
    "duration",
    "run_id",
    "parent_run_id",
)
NUMERIC_ATTRIBUTES = ("start_time", "end_time", "duration")
OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "like", "ilike")
_PREFIXES: dict[str, Kind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
}

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<field>(?:[A-Za-z_]+\.)?(?:`[^`]+`|[A-Za-z_][A-Za-z0-9_\-./:]*))
    """,
    re.VERBOSE | re.DOTALL,
)
# one order_by item: a field (a back-quoted key may hold spaces), then an optional direction
_ORDER_ITEM = re.compile(
    r"\s*(?P<field>(?:[A-Za-z_]+\.)?(?:`[^`]+`|[^\s`]+))(?:\s+(?P<direction>\S+))?\s*"
)


@dataclass(frozen=True, slots=True)
class Comparison:
    kind: Kind
    key: str
    op: str
    value: str | float


@dataclass(frozen=True, slots=True)
class OrderBy:
    kind: Kind
    key: str
    ascending: bool


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise FilterSyntaxError("Unexpected character", text=text, position=pos)
        kind = match.lastgroup or ""
        if kind != "ws":
            out.append((kind, match.group(), pos))
        pos = match.end()
    return out


def _parse_field(token: str, text: str, pos: int) -> tuple[Kind, str]:
    prefix, dot, rest = token.partition(".")
    if dot and not prefix.startswith("`") and prefix.lower() in _PREFIXES:
        kind, key = _PREFIXES[prefix.lower()], rest
    else:
        kind, key = "attribute", token
    if key.startswith("`") and key.endswith("`"):
        key = key[1:-1]
    if not key:
        raise FilterSyntaxError("Missing key after the prefix", text=text, position=pos)
    if kind == "attribute" and key not in ATTRIBUTES:
        raise FilterSyntaxError(
            f"Unknown field {token!r}; use metrics.<key>, params.<key>, tags.<key> or one of "
            f"{', '.join(ATTRIBUTES)}",
            text=text,
            position=pos,
        )
    return kind, key


def _unquote(token: str) -> str:
    body = token[1:-1]
    return re.sub(r"\\(.)", r"\1", body, flags=re.DOTALL)


def parse_filter(text: str | None) -> list[Comparison]:
    """Parse a filter; raises :class:`FilterSyntaxError` pointing at the offending position."""
    if text is None or not text.strip():
        return []
    tokens = _tokens(text)
    clauses: list[Comparison] = []
    i = 0
    while True:
        if i >= len(tokens):
            raise FilterSyntaxError(
                "Expected a field such as metrics.auc", text=text, position=len(text)
            )
        kind_tok, field, fpos = tokens[i]
        if kind_tok != "field" or field.lower() == "and":
            raise FilterSyntaxError(f"Expected a field, got {field!r}", text=text, position=fpos)
        kind, key = _parse_field(field, text, fpos)
        if i + 1 >= len(tokens):
            raise FilterSyntaxError("Expected an operator", text=text, position=len(text))
        op_kind, op, opos = tokens[i + 1]
        op = {"==": "=", "<>": "!="}.get(op, op).lower()
        if op_kind not in ("op", "field") or op not in OPERATORS:
            raise FilterSyntaxError(
                f"Expected one of {' '.join(OPERATORS)}, got {op!r}", text=text, position=opos
            )
        if i + 2 >= len(tokens):
            raise FilterSyntaxError("Expected a value", text=text, position=len(text))
        val_kind, raw, vpos = tokens[i + 2]
        value: str | float
        if val_kind == "number":
            value = float(raw)
        elif val_kind == "string":
            value = _unquote(raw)
        else:
            raise FilterSyntaxError(
                f"Expected a number or a quoted string, got {raw!r}", text=text, position=vpos
            )
        numeric = kind == "metric" or (kind == "attribute" and key in NUMERIC_ATTRIBUTES)
        if numeric and isinstance(value, str):
            raise FilterSyntaxError(f"{field} compares with a number", text=text, position=vpos)
        if numeric and op in ("like", "ilike"):
            raise FilterSyntaxError(f"{op} needs a text field", text=text, position=opos)
        if not numeric and isinstance(value, float):
            raise FilterSyntaxError(
                f"{field} is text: quote the value, e.g. '{raw}'", text=text, position=vpos
            )
        check_clause_count(len(clauses) + 1)
        clauses.append(Comparison(kind, key, op, value))
        i += 3
        if i == len(tokens):
            return clauses
        kind_tok, word, wpos = tokens[i]
        if word.lower() != "and":
            hint = " (only 'and' is supported)" if word.lower() == "or" else ""
            raise FilterSyntaxError(f"Expected 'and', got {word!r}{hint}", text=text, position=wpos)
        i += 1


def parse_order_by(items: list[str] | None) -> list[OrderBy]:
    """``["metrics.auc DESC", "start_time"]`` → order clauses (ascending unless DESC)."""
    items = items or []
    check_order_by_count(len(items))
    orders: list[OrderBy] = []
    for item in items:
        match = _ORDER_ITEM.fullmatch(item)
        if match is None:
            raise FilterSyntaxError(f"Invalid order_by {item!r}; use 'field [ASC|DESC]'")
        direction = (match["direction"] or "ASC").upper()
        if direction not in ("ASC", "DESC"):
            raise FilterSyntaxError(
                f"Invalid direction {match['direction']!r} in order_by {item!r}; use ASC or DESC",
                text=item,
                position=match.start("direction"),
            )
        kind, key = _parse_field(match["field"], item, match.start("field"))
        orders.append(OrderBy(kind, key, direction == "ASC"))
    return orders
