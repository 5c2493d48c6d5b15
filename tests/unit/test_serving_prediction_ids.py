"""Prediction ids that any server of the model recognises, and /feedback's split of labels
into kept and unknown."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopml.monitoring.log_records import FeedbackEntry
from loopml.monitoring.prediction_ids import is_issued, mint_prefix
from loopml.serving.errors import InputMismatchError
from loopml.serving.feedback import split_issued


@given(rows=st.integers(min_value=1, max_value=50_000), model=st.text(min_size=1))
def test_every_row_of_a_minted_prefix_is_issued_and_nothing_past_it(rows: int, model: str) -> None:
    prefix = mint_prefix(model, rows)
    assert is_issued(model, f"{prefix}-0") and is_issued(model, f"{prefix}-{rows - 1}")
    assert not is_issued(model, f"{prefix}-{rows}")


def test_ids_of_another_model_typos_and_made_up_ids_are_not_issued() -> None:
    prefix = mint_prefix("cancer", 2)
    assert not is_issued("churn", f"{prefix}-0")
    typo = ("0" if prefix[3] != "0" else "1").join((prefix[:3], prefix[4:]))
    assert not is_issued("cancer", f"{typo}-0")
    for made_up in ("a-0", "0" * 32 + "-0", f"{prefix}-01", f"{prefix}", f"{prefix}-x", ""):
        assert not is_issued("cancer", made_up)


def test_feedback_keeps_the_labels_of_issued_ids_and_names_the_others() -> None:
    prefix = mint_prefix("cancer", 2)
    entry = FeedbackEntry([f"{prefix}-0", "nope-0", f"{prefix}-1"], [1, 0, 1], 5)
    known, unknown = split_issued(entry, "cancer")
    assert list(known.prediction_ids) == [f"{prefix}-0", f"{prefix}-1"]
    assert list(known.labels) == [1, 1] and unknown == ["nope-0"]


def test_feedback_with_no_issued_id_is_refused_naming_the_first() -> None:
    entry = FeedbackEntry(["nope-0", "nope-1"], [1, 0], 5)
    with pytest.raises(InputMismatchError, match=r"None of the 2 prediction ids.*'nope-0'"):
        split_issued(entry, "cancer")
