"""Schemas: inference from a profile, the YAML format and its errors, row expressions."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml.data.expressions import (
    Arithmetic,
    Column,
    Compare,
    ExpressionError,
    InList,
    IsNull,
    Literal,
    Logical,
    Negate,
    Node,
    Not,
    parse_expression,
    render_expression,
)
from loopml.data.profiles import CategoryCount, ColumnProfile, LogicalType, TableProfile
from loopml.data.schema import (
    ColumnSchema,
    RowCheck,
    Schema,
    SchemaError,
    infer_schema,
    schema_from_yaml,
    schema_to_yaml,
)

T = LogicalType


def full_schema() -> Schema:
    return Schema(
        columns=[
            ColumnSchema("order_id", T.INTEGER, nullable=False, min=1, max=10_000, unique=True),
            ColumnSchema("price", T.NUMERIC, nullable=False, min=0.0, max=1e16),
            ColumnSchema("quantity", T.INTEGER),
            ColumnSchema("status", T.CATEGORICAL, allowed=["a", "yes", "1", "x y"]),
            ColumnSchema("start_date", T.DATETIME, min="2024-01-01T00:00:00"),
            ColumnSchema("end_date", T.DATETIME, max_missing_fraction=0.25),
            ColumnSchema("paid", T.BOOLEAN),
            ColumnSchema("note", T.TEXT),
        ],
        unique=[["status", "start_date"]],
        checks=[
            RowCheck("positive_total", "quantity * price < 1e6"),
            RowCheck("ordered_dates", "end_date >= start_date"),
            RowCheck("known_status", "status in ('a', 'b') or not paid"),
        ],
    )


def test_yaml_round_trip_is_exact_and_stable() -> None:
    schema = full_schema()
    text = schema_to_yaml(schema)
    assert schema_from_yaml(text) == schema
    assert schema_to_yaml(schema_from_yaml(text)) == text
    assert text.startswith("# loopml dataset schema")
    assert "allowed: [a, 'yes', '1', x y]" in text  # YAML-special words stay strings


def test_yaml_written_by_hand_with_flow_mappings_and_dates() -> None:
    text = """
columns:
- {name: day, type: datetime, min: 2024-01-01}
- {name: n, type: integer, nullable: false}
checks:
- {name: c, expr: "n > 0"}
"""
    schema = schema_from_yaml(text)
    assert schema.column("day").min == "2024-01-01"
    assert schema.column("n").nullable is False
    assert schema.checks == [RowCheck("c", "n > 0")]


def _profile(rows: int) -> TableProfile:
    """Four columns profiled over ``rows`` rows (ids all distinct, prices 0.5 to 9.5)."""
    return TableProfile(
        rows=rows,
        columns=[
            ColumnProfile("id", T.INTEGER, "int64", rows, 0, rows, min=1.0, max=float(rows)),
            ColumnProfile("price", T.NUMERIC, "double", rows, 1, 3, min=0.5, max=9.5),
            ColumnProfile(
                "status",
                T.CATEGORICAL,
                "string",
                rows,
                0,
                2,
                top_categories=[CategoryCount("a", rows - 1), CategoryCount("b", 1)],
            ),
            ColumnProfile(
                "city",
                T.CATEGORICAL,
                "string",
                rows,
                0,
                3,
                top_categories=[CategoryCount("x", 2), CategoryCount("y", 1)],
            ),
            ColumnProfile(
                "day", T.DATETIME, "timestamp[us]", rows, 0, 2, min="2024-01-01", max="2024-02-01"
            ),
        ],
    )


def test_a_schema_inferred_from_a_few_rows_keeps_types_and_nullability_only() -> None:
    schema = infer_schema(_profile(5))
    assert schema.column("id") == ColumnSchema("id", T.INTEGER, nullable=False)  # never unique
    assert schema.column("price") == ColumnSchema("price", T.NUMERIC, nullable=True)
    assert schema.column("status").allowed == ["a", "b"]  # 2 categories in 5 rows
    assert schema.column("city").allowed is None  # not every category is listed
    assert schema.column("day") == ColumnSchema("day", T.DATETIME, nullable=False)
    assert "no range from fewer than 20 values" in schema.notes["price"]
    assert schema_from_yaml(schema_to_yaml(schema)) == schema


def test_inferred_ranges_are_widened_by_half_the_span_and_stay_non_negative() -> None:
    schema = infer_schema(_profile(200))
    assert (schema.column("id").min, schema.column("id").max) == (0, 300)
    assert (schema.column("price").min, schema.column("price").max) == (0.0, 14.0)
    assert schema.column("day").min is None and schema.column("day").max is None
    assert not any(column.unique for column in schema.columns)
    assert schema.notes["price"] == (
        "inferred: numeric, 1 missing of 200; seen 0.5 to 9.5, widened by half the span"
    )


def test_the_yaml_of_an_inferred_schema_says_what_was_inferred() -> None:
    text = schema_to_yaml(infer_schema(_profile(200)))
    assert "# inferred: integer, none missing of 200; seen 1 to 200, widened by half" in text
    assert "# inferred: categorical, none missing of 200; allowed: the 2 categories seen" in text
    assert "no range for datetimes" in text
    assert schema_from_yaml(text) == infer_schema(_profile(200))


def error_of(text: str) -> str:
    with pytest.raises(SchemaError) as info:
        schema_from_yaml(text, source="orders.schema.yaml")
    return info.value.message


@pytest.mark.parametrize(
    ("text", "location", "fragments"),
    [
        (
            "columns:\n- name: a\n  type: float\n",
            "3:9: columns[0].type",
            ["unknown logical type 'float'", "allowed: numeric, integer"],
        ),
        (
            "columns:\n- name: a\n  type: numeric\n  nulable: true\n",
            "4:3: columns[0]",
            ["unknown key 'nulable'", "allowed keys: name, type, nullable"],
        ),
        (
            "columns:\n- name: a\n  type: numeric\n  nullable: maybe\n",
            "4:13: columns[0].nullable",
            ["expected true or false", "'maybe'"],
        ),
        (
            "columns:\n- name: a\n  type: numeric\n  min: low\n",
            "4:8: columns[0].min",
            ["expected a number"],
        ),
        (
            "columns:\n- name: a\n  type: text\n  min: 1\n",
            "4:8: columns[0].min",
            ["applies to numeric, integer and datetime"],
        ),
        (
            "columns:\n- name: a\n  type: datetime\n  max: 'soon'\n",
            "4:8: columns[0].max",
            ["not an ISO datetime"],
        ),
        (
            "columns:\n- name: a\n  type: numeric\n  max_missing_fraction: 2\n",
            "4:25: columns[0].max_missing_fraction",
            ["from 0 to 1"],
        ),
        ("colums: []\n", "1:1: schema", ["unknown key 'colums'", "allowed keys: version"]),
        ("columns: {a: 1}\n", "1:10: columns", ["expected a list of columns"]),
        ("columns:\n- type: numeric\n", "2:3: columns[0]", ["missing key 'name'"]),
        (
            "columns:\n- {name: a, type: numeric}\nunique:\n- [a, b]\n",
            "4:7: unique[0][1]",
            ["unknown column 'b'", "columns: a"],
        ),
        (
            "columns:\n- {name: a, type: numeric}\nchecks:\n- {name: c, expr: a > b, extra: 1}\n",
            "4:26: checks[0]",
            ["unknown key 'extra'", "allowed keys: name, expr"],
        ),
        ("version: 2\ncolumns: []\n", "1:10: version", ["unsupported version 2"]),
        ("columns: [\n", "2:1", ["not valid YAML"]),
    ],
)
def test_every_yaml_error_names_file_line_column_and_field(
    text: str, location: str, fragments: list[str]
) -> None:
    message = error_of(text)
    assert message.startswith(f"orders.schema.yaml:{location}"), message
    for fragment in fragments:
        assert fragment in message


def test_a_bad_expression_points_at_its_line_and_column() -> None:
    text = "columns:\n- {name: price, type: numeric}\nchecks:\n- name: c\n  expr: price > prise\n"
    message = error_of(text)
    assert message.startswith("orders.schema.yaml:5:17: checks[0].expr: Unknown column 'prise'")
    quoted = "columns:\n- {name: price, type: numeric}\nchecks:\n- {name: c, expr: 'price >'}\n"
    assert error_of(quoted).startswith("orders.schema.yaml:4:27: checks[0].expr: Expected")


def test_schema_rejects_duplicate_columns_and_unknown_names_in_python() -> None:
    with pytest.raises(SchemaError, match="listed twice"):
        Schema(columns=[ColumnSchema("a", T.TEXT), ColumnSchema("a", T.TEXT)])
    with pytest.raises(SchemaError, match="unknown column 'b'"):
        Schema(columns=[ColumnSchema("a", T.TEXT)], unique=[["b"]])
    with pytest.raises(SchemaError, match="Unknown column 'b'"):
        Schema(columns=[ColumnSchema("a", T.TEXT)], checks=[RowCheck("c", "b > 1")])


# --- expressions ---------------------------------------------------------------------------


def test_precedence_arithmetic_over_comparison_over_not_over_and_over_or() -> None:
    a, b, c = Column("a"), Column("b"), Column("c")
    assert parse_expression("a + b * 2 < c - 1") == Compare(
        "<", Arithmetic("+", a, Arithmetic("*", b, Literal(2))), Arithmetic("-", c, Literal(1))
    )
    assert parse_expression("not a > 1 and b or c = 2") == Logical(
        "or",
        Logical("and", Not(Compare(">", a, Literal(1))), b),
        Compare("==", c, Literal(2)),
    )
    assert parse_expression("a - b - c") == Arithmetic("-", Arithmetic("-", a, b), c)


def test_parentheses_override_precedence() -> None:
    a, b, c = Column("a"), Column("b"), Column("c")
    assert parse_expression("(a + b) * c") == Arithmetic("*", Arithmetic("+", a, b), c)
    assert parse_expression("a and (b or c)") == Logical("and", a, Logical("or", b, c))


def test_in_lists_null_tests_literals_and_quoted_columns() -> None:
    status = Column("status")
    assert parse_expression("status in ('a', \"b\", 3, -1.5)") == InList(
        status, ("a", "b", 3, -1.5)
    )
    assert parse_expression("status NOT IN ('a')") == InList(status, ("a",), negated=True)
    assert parse_expression("status is not null") == IsNull(status, negated=True)
    assert parse_expression("`unit price` > -2") == Compare(">", Column("unit price"), Literal(-2))
    assert parse_expression("-(x) = true") == Compare("==", Negate(Column("x")), Literal(True))
    assert parse_expression(r"s == 'it\'s'") == Compare("==", Column("s"), Literal("it's"))


def test_unknown_column_is_reported_at_its_position() -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression("price >= 0 and quantty > 1", columns=["price", "quantity"])
    assert info.value.position == 15
    assert "Unknown column 'quantty'; columns: price, quantity" in info.value.message


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("__import__('os').system('x')", 16),
        ("price.__class__", 5),
        ("f(x)", 1),
        ("a >", 3),
        ("(a > 1", 6),
        ("a in 1", 5),
        ("a ; b", 2),
        ("", 0),
    ],
)
def test_code_and_malformed_text_are_syntax_errors(text: str, position: int) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression(text)
    assert info.value.position == position


names = st.sampled_from(["a", "price", "end_date", "unit price", "and"]).map(Column)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
)


def expressions() -> st.SearchStrategy[Node]:
    leaves = st.one_of(names, values.map(Literal))

    def extend(inner: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        return st.one_of(
            st.builds(Arithmetic, st.sampled_from("+-*/"), inner, inner),
            st.builds(Compare, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), inner, inner),
            st.builds(Logical, st.sampled_from(["and", "or"]), inner, inner),
            st.builds(Not, inner),
            st.builds(Negate, inner),
            st.builds(InList, inner, st.lists(values, min_size=1, max_size=3).map(tuple)),
            st.builds(IsNull, inner, st.booleans()),
        )

    return st.recursive(leaves, extend, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(expressions())
def test_parse_of_render_is_the_same_tree(node: Node) -> None:
    text = render_expression(node)
    parsed = parse_expression(text)
    assert parsed == node
    assert render_expression(parsed) == text


def test_positions_are_not_part_of_equality() -> None:
    assert re.search("price", render_expression(parse_expression("  price")))
    assert parse_expression("  price") == Column("price")


def test_the_documented_example_is_a_valid_schema() -> None:
    import textwrap

    from loopml.data import schema as module

    doc = module.__doc__ or ""
    example = textwrap.dedent(doc.split("::\n", 1)[1])
    schema = schema_from_yaml(example, source="docstring")
    assert schema.column_names == ["order_id", "price", "status", "quantity"]
    assert schema.checks == [RowCheck("positive_total", "quantity * price < 1e6")]
