"""Row expressions for schema checks: a tiny, safe parser (no ``eval``) and a compiler to
vectorised :mod:`pyarrow.compute` expressions.

Grammar (keywords are case-insensitive)::

    expr       := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := sum [ cmp_op sum
                      | ["not"] "in" "(" literal ("," literal)* ")"
                      | "is" ["not"] "null" ]
    cmp_op     := "==" | "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := "-" unary | atom
    atom       := literal | column | "(" expr ")"
    literal    := number | 'single' | "double" | "true" | "false" | "null"
    column     := identifier | `back-quoted name`

Example: ``end_date >= start_date and (status in ('a', 'b') or not quantity * price < 1e6)``.
A row passes when the expression is true *or null* (SQL ``CHECK`` semantics: a missing input
is the nullability rule's business, not the check's).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from loopml.core.errors import ExpressionError as ExpressionError

Value = bool | int | float | str | None


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Literal:
    value: Value


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Node


@dataclass(frozen=True, slots=True)
class Arithmetic:
    op: str  # + - * /
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # == != < <= > >=
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class InList:
    operand: Node
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class IsNull:
    operand: Node
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class Logical:
    op: str  # and / or
    left: Node
    right: Node


Node = Column | Literal | Negate | Arithmetic | Compare | InList | IsNull | Not | Logical

_KEYWORDS = ("and", "or", "not", "in", "is", "null", "true", "false")
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_0-9]))
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*|`[^`]+`)
  | (?P<op><=|>=|!=|<>|==|=|<|>|\+|-|\*|/|\(|\)|,)
    """,
    re.VERBOSE | re.DOTALL,
)
_CMP = {"==": "==", "=": "==", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # number, string, name, keyword, op, end
    text: str
    position: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ExpressionError(f"Unexpected character {text[pos]!r}", text=text, position=pos)
        kind = match.lastgroup or ""
        word = match.group()
        if kind == "name" and word.lower() in _KEYWORDS:
            kind, word = "keyword", word.lower()
        if kind != "ws":
            tokens.append(_Token(kind, word, pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str, columns: Collection[str] | None) -> None:
        self.text = text
        self.columns = columns
        self.tokens = _tokenize(text)
        self.i = 0

    def error(self, problem: str, token: _Token | None = None) -> ExpressionError:
        return ExpressionError(problem, text=self.text, position=(token or self.peek()).position)

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def accept(self, *words: str) -> _Token | None:
        token = self.peek()
        if token.kind in ("keyword", "op") and token.text in words:
            self.i += 1
            return token
        return None

    def expect(self, word: str) -> None:
        if self.accept(word) is None:
            raise self.error(f"Expected {word!r}, got {self.describe(self.peek())}")

    @staticmethod
    def describe(token: _Token) -> str:
        return "the end of the expression" if token.kind == "end" else repr(token.text)

    def parse(self) -> Node:
        node = self.or_expr()
        if self.peek().kind != "end":
            raise self.error(
                f"Expected an operator, 'and', 'or' or the end, got {self.describe(self.peek())}"
            )
        return node

    def or_expr(self) -> Node:
        node = self.and_expr()
        while self.accept("or"):
            node = Logical("or", node, self.and_expr())
        return node

    def and_expr(self) -> Node:
        node = self.not_expr()
        while self.accept("and"):
            node = Logical("and", node, self.not_expr())
        return node

    def not_expr(self) -> Node:
        if self.accept("not"):
            return Not(self.not_expr())
        return self.comparison()

    def comparison(self) -> Node:
        left = self.sum()
        token = self.peek()
        if token.kind == "op" and token.text in _CMP:
            self.i += 1
            return Compare(_CMP[token.text], left, self.sum())
        if self.accept("is"):
            negated = self.accept("not") is not None
            self.expect("null")
            return IsNull(left, negated)
        negated = False
        if token.kind == "keyword" and token.text == "not":
            after = self.tokens[self.i + 1]
            if after.kind == "keyword" and after.text == "in":
                self.i += 1
                negated = True
        if self.accept("in"):
            self.expect("(")
            values = [self.literal_value()]
            while self.accept(","):
                values.append(self.literal_value())
            self.expect(")")
            return InList(left, tuple(values), negated)
        return left

    def literal_value(self) -> Value:
        token = self.peek()
        if self.accept("-"):
            if self.peek().kind != "number":
                raise self.error("Expected a number after '-'")
            return -self.number()
        node = self.atom()
        if not isinstance(node, Literal):
            raise self.error("Expected a literal (number, quoted text, true, false, null)", token)
        return node.value

    def sum(self) -> Node:
        node = self.product()
        while (token := self.accept("+", "-")) is not None:
            node = Arithmetic(token.text, node, self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while (token := self.accept("*", "/")) is not None:
            node = Arithmetic(token.text, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.accept("-"):
            if self.peek().kind == "number":  # "-2" is a literal, "-(2)" a negation
                return Literal(-self.number())
            return Negate(self.unary())
        return self.atom()

    def number(self) -> int | float:
        text = self.peek().text
        self.i += 1
        return int(text) if text.isdigit() else float(text)

    def atom(self) -> Node:
        token = self.peek()
        if token.kind == "number":
            return Literal(self.number())
        self.i += 1
        if token.kind == "string":
            return Literal(re.sub(r"\\(.)", r"\1", token.text[1:-1], flags=re.DOTALL))
        if token.kind == "keyword" and token.text in ("true", "false", "null"):
            return Literal({"true": True, "false": False, "null": None}[token.text])
        if token.kind == "name":
            name = token.text[1:-1] if token.text.startswith("`") else token.text
            if self.columns is not None and name not in self.columns:
                known = ", ".join(sorted(self.columns)) or "(none)"
                raise self.error(f"Unknown column {name!r}; columns: {known}", token)
            return Column(name, token.position)
        if token.kind == "op" and token.text == "(":
            node = self.or_expr()
            self.expect(")")
            return node
        raise self.error(
            f"Expected a column, a number, quoted text or '(', got {self.describe(token)}", token
        )


def parse_expression(text: str, *, columns: Collection[str] | None = None) -> Node:
    """Parse a row expression; with ``columns``, unknown column names are errors.

    Raises :class:`ExpressionError` pointing at the offending position.
    """
    if not text.strip():
        raise ExpressionError("Empty expression", text=text, position=0)
    return _Parser(text, columns).parse()


def _render_value(value: Value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(value)


def render_expression(node: Node) -> str:
    """Text that parses back to ``node`` (fully parenthesised)."""
    if isinstance(node, Column):
        plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", node.name)
        return node.name if plain and node.name.lower() not in _KEYWORDS else f"`{node.name}`"
    if isinstance(node, Literal):
        return _render_value(node.value)
    if isinstance(node, Negate):
        return f"-({render_expression(node.operand)})"
    if isinstance(node, Arithmetic | Compare | Logical):
        return f"({render_expression(node.left)} {node.op} {render_expression(node.right)})"
    if isinstance(node, InList):
        values = ", ".join(_render_value(v) for v in node.values)
        keyword = "not in" if node.negated else "in"
        return f"({render_expression(node.operand)} {keyword} ({values}))"
    if isinstance(node, IsNull):
        keyword = "is not null" if node.negated else "is null"
        return f"({render_expression(node.operand)} {keyword})"
    return f"(not {render_expression(node.operand)})"


def columns_of(node: Node) -> list[str]:
    """The column names an expression reads, in order of first use."""
    found: dict[str, None] = {}
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Column):
            found[current.name] = None
        elif isinstance(current, Negate | Not | InList | IsNull):
            stack.append(current.operand)
        elif isinstance(current, Arithmetic | Compare | Logical):
            stack.extend((current.right, current.left))
    return list(found)


_ARROW_FUNCTIONS = {
    "+": "add",
    "-": "subtract",
    "*": "multiply",
    "==": "equal",
    "!=": "not_equal",
    "<": "less",
    "<=": "less_equal",
    ">": "greater",
    ">=": "greater_equal",
    "and": "and_kleene",
    "or": "or_kleene",
}


def compile_expression(node: Node) -> Any:
    """The :class:`pyarrow.compute.Expression` computing ``node`` for every row at once."""
    if isinstance(node, Column):
        return pc.field(node.name)
    if isinstance(node, Literal):
        return pc.scalar(node.value)
    if isinstance(node, Negate):
        return pc.negate(compile_expression(node.operand))
    if isinstance(node, Arithmetic) and node.op == "/":  # true division, also for integers
        left, right = compile_expression(node.left), compile_expression(node.right)
        return pc.divide(left.cast(pa.float64()), right.cast(pa.float64()))
    if isinstance(node, Arithmetic | Compare | Logical):
        function = getattr(pc, _ARROW_FUNCTIONS[node.op])
        return function(compile_expression(node.left), compile_expression(node.right))
    if isinstance(node, InList):
        operand = compile_expression(node.operand)
        contained = pc.is_in(operand, value_set=pa.array(node.values))
        if node.negated:
            contained = pc.invert(contained)
        return pc.if_else(pc.is_null(operand), pa.scalar(None, pa.bool_()), contained)
    if isinstance(node, IsNull):
        missing = pc.is_null(compile_expression(node.operand))
        return pc.invert(missing) if node.negated else missing
    return pc.invert(compile_expression(node.operand))
