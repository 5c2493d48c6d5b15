"""Registration's global importance says what it rests on: the rows given and explained, and
for a sampled model the background rows, the feature orders and whether the time budget
(0.5 s unless ``LOOPML_EXPLAIN_BUDGET_SECONDS`` or ``explain_budget_seconds`` says otherwise)
cut them short. A bad budget is refused before anything is written."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

import loopml.models
from loopml.core.errors import ConfigError, InvalidInputError
from loopml.models.explanations import global_importance, registration_budget
from loopml.tracking.client import Client

ENV = "LOOPML_EXPLAIN_BUDGET_SECONDS"


def _table(rows: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, 4)), columns=["a", "b", "c", "d"])
    return frame, (frame["a"] + frame["b"] > 0).to_numpy().astype(int)


def _pipeline(frame: pd.DataFrame, labels: np.ndarray) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, labels)


def test_a_sampled_importance_says_its_rows_orders_and_that_the_budget_cut_them(
    client: Client,
) -> None:
    frame, labels = _table(300)
    version = loopml.models.register(
        "piped",
        _pipeline(frame, labels),
        input_example=frame.head(5),
        explain_data=frame,
        explain_budget_seconds=0.0,
        client=client,
    )
    stored = global_importance(version, client)
    assert stored is not None and stored["method"] == "sampled" and stored["rows"] == 100
    assert stored["sampling"] == {
        "rows_given": 300,
        "rows_explained": 100,
        "max_rows": 100,
        "background_rows": 50,
        "orders": 2,  # one order and its reverse: the least a spent budget allows
        "max_orders": 32,
        "budget_seconds": 0.0,
        "cut_by_budget": True,
    }


def test_a_budget_from_the_environment_that_sufficed_is_said_not_to_have_cut(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "600")
    frame, labels = _table(40)
    version = loopml.models.register(
        "piped", _pipeline(frame, labels), input_example=frame.head(3), client=client
    )
    stored = global_importance(version, client)
    assert stored is not None
    sampling = stored["sampling"]
    assert sampling["rows_given"] == sampling["rows_explained"] == sampling["background_rows"] == 3
    assert sampling["budget_seconds"] == 600.0
    assert sampling["orders"] == 32 and sampling["cut_by_budget"] is False


def test_an_exact_importance_says_how_many_rows_it_explained(client: Client) -> None:
    frame, labels = _table(1500)
    forest = RandomForestClassifier(5, random_state=0).fit(frame, labels)
    version = loopml.models.register(
        "forest", forest, input_example=frame.head(5), explain_data=frame, client=client
    )
    stored = global_importance(version, client)
    assert stored is not None and stored["method"] == "tree"
    assert stored["sampling"] == {"rows_given": 1500, "rows_explained": 1000, "max_rows": 1000}


def test_the_registration_budget_is_half_a_second_unless_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert registration_budget() == 0.5
    monkeypatch.setenv(ENV, "2.5")
    assert registration_budget() == 2.5
    assert registration_budget(0.0) == 0.0


def test_a_bad_budget_is_refused_before_a_version_is_written(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame, labels = _table(20)
    model = _pipeline(frame, labels)
    monkeypatch.setenv(ENV, "soon")
    with pytest.raises(ConfigError, match=rf"{ENV} must be a number of seconds .*'soon'"):
        loopml.models.register("piped", model, input_example=frame.head(3), client=client)
    monkeypatch.delenv(ENV)
    with pytest.raises(InvalidInputError, match=r"explain_budget_seconds must be .* >= 0"):
        loopml.models.register(
            "piped", model, input_example=frame.head(3), explain_budget_seconds=-1, client=client
        )
    assert client.metadata.list_registered_models() == []
