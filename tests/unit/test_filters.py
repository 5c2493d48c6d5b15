"""The run search language: examples, errors that point at the problem, and properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml.core.errors import FilterSyntaxError, InvalidInputError
from loopml.core.filters import (
    ATTRIBUTES,
    NUMERIC_ATTRIBUTES,
    OPERATORS,
    Comparison,
    OrderBy,
    parse_filter,
    parse_order_by,
)
from loopml.core.query_limits import MAX_FILTER_CLAUSES, MAX_ORDER_BY_KEYS

# examples


@pytest.mark.parametrize("text", [None, "", "   \n\t"])
def test_an_empty_filter_matches_everything(text: str | None) -> None:
    assert parse_filter(text) == []


def test_clauses_of_every_kind_parse_into_comparisons() -> None:
    text = (
        "metrics.auc > 0.9 and params.model = 'xgb' AND tags.stage != \"prod\" "
        "and attributes.status = 'FINISHED' and start_time >= 1700000000000"
    )
    assert parse_filter(text) == [
        Comparison("metric", "auc", ">", 0.9),
        Comparison("param", "model", "=", "xgb"),
        Comparison("tag", "stage", "!=", "prod"),
        Comparison("attribute", "status", "=", "FINISHED"),
        Comparison("attribute", "start_time", ">=", 1.7e12),
    ]


@pytest.mark.parametrize(
    ("text", "op"),
    [("==", "="), ("<>", "!="), ("LIKE", "like"), ("ILike", "ilike"), ("<=", "<=")],
)
def test_operator_spellings_are_normalised(text: str, op: str) -> None:
    assert parse_filter(f"params.x {text} 'a'")[0].op == op


def test_singular_prefixes_and_bare_attributes_are_accepted() -> None:
    assert parse_filter("metric.a < 1 and param.b = 'x' and tag.c = 'y' and name = 'n'") == [
        Comparison("metric", "a", "<", 1.0),
        Comparison("param", "b", "=", "x"),
        Comparison("tag", "c", "=", "y"),
        Comparison("attribute", "name", "=", "n"),
    ]


def test_keys_with_slashes_dashes_and_dots_need_no_quotes() -> None:
    assert parse_filter("metrics.val/loss-2.final<=.5")[0] == Comparison(
        "metric", "val/loss-2.final", "<=", 0.5
    )


def test_back_quoted_keys_may_hold_spaces() -> None:
    assert parse_filter("metrics.`my key` > -1e3")[0] == Comparison("metric", "my key", ">", -1e3)


def test_a_key_may_start_with_a_digit() -> None:
    assert parse_filter("metrics.1st > 0")[0].key == "1st"


def test_quoted_values_unescape_backslashes() -> None:
    assert parse_filter(r"tags.x = 'it\'s \\ ok'")[0].value == "it's \\ ok"
    assert parse_filter('tags.x = "say \\"hi\\""')[0].value == 'say "hi"'
    assert parse_filter("tags.x = 'line\\\nbreak'")[0].value == "line\nbreak"


# errors


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("metrics.auc > 0.5 or params.x = '1'", 18, "only 'and'"),
        ("metrics.auc > 0.5 and", 21, "Expected a field"),
        ("metrics.auc", 11, "Expected an operator"),
        ("metrics.auc >", 13, "Expected a value"),
        ("metrics.auc ~ 1", 12, "Unexpected character"),
        ("metrics.auc is 1", 12, "Expected one of"),
        ("colour = 'red'", 0, "Unknown field 'colour'"),
        ("metrics. = 1", 0, "Missing key"),
        ("metrics.auc > 'high'", 14, "compares with a number"),
        ("start_time like '1%'", 16, "compares with a number"),
        ("params.lr = 0.1", 12, "quote the value"),
        ("and metrics.a = 1", 0, "Expected a field"),
        ("tags.x = 'unterminated", 9, "Unexpected character"),
        ("metrics.a = 1 metrics.b = 2", 14, "Expected 'and'"),
        ("params.x = y", 11, "Expected a number or a quoted string"),
    ],
)
def test_syntax_errors_point_at_the_offending_position(
    text: str, position: int, fragment: str
) -> None:
    with pytest.raises(FilterSyntaxError, match=fragment) as caught:
        parse_filter(text)
    assert caught.value.position == position
    assert text in str(caught.value)  # the message shows the filter with a caret under it
    assert str(caught.value).splitlines()[-1] == "  " + " " * position + "^"


def test_like_on_a_metric_is_refused() -> None:
    with pytest.raises(FilterSyntaxError, match="like needs a text field") as caught:
        parse_filter("metrics.auc like 0.5")
    assert caught.value.position == 12


# order_by


def test_order_by_defaults_to_ascending() -> None:
    assert parse_order_by(["metrics.auc DESC", "start_time", "params.lr asc"]) == [
        OrderBy("metric", "auc", ascending=False),
        OrderBy("attribute", "start_time", ascending=True),
        OrderBy("param", "lr", ascending=True),
    ]
    assert parse_order_by(None) == []


def test_order_by_accepts_back_quoted_keys_with_spaces() -> None:
    assert parse_order_by(["metrics.`val loss` DESC"]) == [OrderBy("metric", "val loss", False)]


@pytest.mark.parametrize(
    ("item", "position"),
    [("metrics.auc sideways", 12), ("colour", 0), ("  colour DESC", 2)],
)
def test_bad_order_by_points_at_the_problem(item: str, position: int) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_order_by([item])
    assert caught.value.position == position


@pytest.mark.parametrize("item", ["", "a b c", "metrics.auc DESC extra"])
def test_malformed_order_by_is_refused(item: str) -> None:
    with pytest.raises(FilterSyntaxError, match="field \\[ASC\\|DESC\\]"):
        parse_order_by([item])


# properties (no per-example deadline: a busy CI machine must not make them flaky)

NO_DEADLINE = settings(deadline=None)

KEY_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-. /:"
keys = st.text(KEY_CHARS, min_size=1, max_size=30)
texts = st.text(max_size=30)
numbers = st.floats(allow_nan=False, allow_infinity=False)
NUMERIC_OPS = [op for op in OPERATORS if op not in ("like", "ilike")]


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@st.composite
def comparisons(draw: st.DrawFn) -> Comparison:
    kind = draw(st.sampled_from(["metric", "param", "tag", "attribute"]))
    key = draw(st.sampled_from(ATTRIBUTES)) if kind == "attribute" else draw(keys)
    numeric = kind == "metric" or key in NUMERIC_ATTRIBUTES
    op = draw(st.sampled_from(NUMERIC_OPS if numeric else OPERATORS))
    value: str | float = draw(numbers) if numeric else draw(texts)
    return Comparison(kind, key, op, value)  # type: ignore[arg-type]


def _render(comparison: Comparison, spaces: str) -> str:
    prefix = {"metric": "metrics.", "param": "params.", "tag": "tags.", "attribute": ""}
    field = prefix[comparison.kind] + (
        comparison.key if comparison.kind == "attribute" else f"`{comparison.key}`"
    )
    value = comparison.value
    rendered = repr(value) if isinstance(value, float) else _quote(value)
    return f"{field}{spaces}{comparison.op}{spaces or ' '}{rendered}"


@NO_DEADLINE
@given(
    st.lists(comparisons(), min_size=1, max_size=5),
    st.sampled_from([" ", "  ", "\t", "\n"]),
    st.sampled_from([" and ", " AND ", "\nAnd\n"]),
)
def test_rendered_filters_parse_back_to_the_same_comparisons(
    clauses: list[Comparison], spaces: str, joiner: str
) -> None:
    text = joiner.join(_render(clause, spaces) for clause in clauses)
    parsed = parse_filter(text)
    assert len(parsed) == len(clauses)
    for got, want in zip(parsed, clauses, strict=True):
        assert (got.kind, got.key, got.op) == (want.kind, want.key, want.op)
        if isinstance(want.value, float):
            assert isinstance(got.value, float) and math.isclose(got.value, want.value)
            assert got.value == want.value  # repr() of a float round-trips exactly
        else:
            assert got.value == want.value


@NO_DEADLINE
@given(st.text(max_size=80))
def test_any_text_either_parses_or_raises_a_positioned_syntax_error(text: str) -> None:
    try:
        parse_filter(text)
    except FilterSyntaxError as error:
        assert 0 <= error.position <= len(text)


@NO_DEADLINE
@given(
    st.text(
        st.sampled_from(list("metrics.params.tags.auc <>=!'\"`0123456789.e-and like")), max_size=60
    )
)
def test_near_miss_filters_never_crash(text: str) -> None:
    try:
        parse_filter(text)
    except FilterSyntaxError as error:
        assert 0 <= error.position <= len(text)


@NO_DEADLINE
@given(
    st.lists(
        st.tuples(st.sampled_from(["metric", "param", "tag"]), keys, st.booleans()),
        max_size=MAX_ORDER_BY_KEYS,
    )
)
def test_rendered_order_by_parses_back(items: list[tuple[str, str, bool]]) -> None:
    prefix = {"metric": "metrics", "param": "params", "tag": "tags"}
    rendered = [
        f"{prefix[kind]}.`{key}` {'ASC' if ascending else 'desc'}" for kind, key, ascending in items
    ]
    assert parse_order_by(rendered) == [OrderBy(k, key, asc) for k, key, asc in items]  # type: ignore[arg-type]


@NO_DEADLINE
@given(st.text(max_size=40))
def test_any_order_by_either_parses_or_raises_a_syntax_error(item: str) -> None:
    try:
        parse_order_by([item])
    except FilterSyntaxError as error:
        assert 0 <= error.position <= len(item)


def test_a_filter_or_an_order_over_the_limits_is_refused_saying_the_limit() -> None:
    clauses = ["metrics.a > 1"] * MAX_FILTER_CLAUSES
    assert len(parse_filter(" and ".join(clauses))) == MAX_FILTER_CLAUSES
    with pytest.raises(InvalidInputError, match=f"at most {MAX_FILTER_CLAUSES} are allowed"):
        parse_filter(" and ".join([*clauses, "metrics.b > 1"]))
    keys = [f"metrics.m{i}" for i in range(MAX_ORDER_BY_KEYS)]
    assert len(parse_order_by(keys)) == MAX_ORDER_BY_KEYS
    with pytest.raises(InvalidInputError, match=f"at most {MAX_ORDER_BY_KEYS} are allowed"):
        parse_order_by([*keys, "start_time"])
