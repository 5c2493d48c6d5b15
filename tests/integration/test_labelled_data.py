"""Labelled predictions stored as dataset versions (``monitoring.labelled_data``), over a
prediction log written by the log's own writer (real Parquet parts stored as run artifacts):
the rows and types, the target found from the model's training data, the newest label of a
prediction winning, one version per content, appends that never stack, and the errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from sklearn.dummy import DummyClassifier  # type: ignore[import-untyped]

import loopml
from loopml.core.config import init_project
from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.core.ids import now_ms
from loopml.monitoring.labelled_data import LINEAGE_FILE, materialize_feedback
from loopml.monitoring.log_records import FeedbackEntry, PredictionEntry
from loopml.monitoring.log_store import FEEDBACK_RUN, SERVER, RunSink, start_log_run
from loopml.monitoring.prediction_log import PredictionLog
from loopml.serving.rows import Rows
from loopml.tracking.client import Client

HOUR = 3_600_000
TRAIN = "a,b,kind,year\n1.5,x,cat,2020\n2.5,y,dog,2021\n,x,cat,2020\n3.0,,dog,2021\n"


@dataclass
class Logged:
    client: Client
    folder: Path
    start_ms: int
    ids: list[str]  # every logged prediction, in request and row order
    inputs: list[tuple[float | None, str | None]]


def _write(client: Client, folder: Path, entries: list[Any], kind: str = SERVER) -> None:
    run = start_log_run(client, model="pets", kind=kind, name="serve pets")
    log = PredictionLog(RunSink(client, run.id), folder, flush_seconds=0.05, roll_seconds=0.1)
    log.start()
    for entry in entries:
        log.add(entry)
    log.close()


def _feedback(logged: Logged, ids: list[str], labels: list[Any], at_ms: int, name: str) -> None:
    entry = FeedbackEntry(ids, labels, at_ms)
    _write(logged.client, logged.folder / name, [entry], FEEDBACK_RUN)


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[Logged]:
    """pets@1 (a CSV with a missing number and a missing word) and model pets v1 trained on
    it (inputs a, b; it answers words), with 12 logged predictions in 4 requests (and a
    shadow's of the first request again); no label."""
    config = init_project(tmp_path)
    (tmp_path / "pets.csv").write_text(TRAIN, encoding="utf-8")
    start_ms = (now_ms() // HOUR - 2) * HOUR
    rng = np.random.default_rng(3)
    with Client(config=config, create=False) as client:
        loopml.data.add("pets", tmp_path / "pets.csv", client=client)
        example = pa.table({"a": [1.5, 2.5], "b": ["x", "y"]}).to_pandas()
        model = DummyClassifier(strategy="most_frequent").fit(example, ["cat", "dog"])
        with loopml.start_run("train", client=client) as run:
            run.use_dataset("pets@1")
            loopml.models.register("pets", model, input_example=example, run=run, client=client)
        entries: list[Any] = []
        ids: list[str] = []
        inputs: list[tuple[float | None, str | None]] = []
        for request in range(4):
            a = [None if (request, row) == (1, 2) else float(rng.normal()) for row in range(3)]
            b = [None if (request, row) == (2, 0) else "xy"[row % 2] for row in range(3)]
            prefix = f"{request:02d}{'0' * 30}"
            entries.append(PredictionEntry(
                prefix, f"r{request}", start_ms + request * 60_000, "pets@1", "main", 2.0,
                Rows(pa.table({"a": pa.array(a, pa.float64()), "b": pa.array(b, pa.string())})),
                np.asarray(["cat"] * 3),
            ))  # fmt: skip
            ids.extend(f"{prefix}-{row}" for row in range(3))
            inputs.extend(zip(a, b, strict=True))
        first = entries[0]  # a shadow (v2) scores the first request again, under its ids
        shadow = np.asarray(["dog"] * 3)
        entries.append(PredictionEntry(first.id_prefix, "r0", first.time_ms + 1, "pets@2",
                                       "shadow", 3.0, first.rows, shadow))  # fmt: skip
        _write(client, tmp_path / "spool", entries)
        yield Logged(client, tmp_path, start_ms, ids, inputs)


def test_labels_joined_to_inputs_become_a_dataset_of_their_own(logged: Logged) -> None:
    chosen = [0, 4, 5, 6, 11]  # 5 has a missing number, 6 a missing word
    _feedback(logged, [logged.ids[i] for i in chosen], ["cat", "dog", "cat", "dog", "cat"],
              logged.start_ms + HOUR, "first")  # fmt: skip
    # a later label for prediction 4 replaces the first one
    _feedback(logged, [logged.ids[4]], ["cat"], logged.start_ms + HOUR + 1, "second")

    export = materialize_feedback(logged.client, "pets@1", dataset="pets-labelled")
    assert (export.version.version, export.created, export.rows) == (1, True, 5)
    assert (export.target, export.table, export.base) == ("kind", "pets-labelled.parquet", None)
    handle = loopml.data.get("pets-labelled@1", client=logged.client)
    table = handle.to_arrow()
    assert table.schema == pa.schema([("a", pa.float64()), ("b", pa.string()),
                                      ("kind", pa.string())])  # fmt: skip
    expected = [
        {"a": logged.inputs[i][0], "b": logged.inputs[i][1], "kind": label}
        for i, label in zip(chosen, ["cat", "cat", "cat", "dog", "cat"], strict=True)
    ]
    assert table.to_pylist() == expected
    lineage = json.loads((handle.path() / LINEAGE_FILE).read_text(encoding="utf-8"))
    assert lineage["rows"] == 5 and lineage["model_versions"] == ["pets@1"]
    assert len(lineage["feedback_parts"]) == 2 and len(lineage["prediction_parts"]) >= 1
    assert handle.version.source == "feedback:pets@1"
    # appended to itself, an export without a base is replaced, not doubled: the same content
    again = materialize_feedback(logged.client, "pets@1", dataset="pets-labelled",
                                 append_to="latest")  # fmt: skip
    assert (again.version.version, again.created, again.base, again.rows) == (1, False, None, 5)


def test_the_same_export_twice_makes_one_version_and_appends_never_stack(logged: Logged) -> None:
    _feedback(logged, logged.ids[:3], ["dog", "dog", "cat"], logged.start_ms + HOUR, "first")
    first = materialize_feedback(logged.client, "pets", dataset="pets", append_to="latest")
    found = (first.version.version, first.created, first.base, first.base_rows)
    assert found == (2, True, "pets@1", 4)
    table = loopml.data.get("pets@2", client=logged.client).to_arrow()
    assert table.column_names == ["a", "b", "kind", "year"] and table.num_rows == 7
    assert table.slice(4).to_pylist() == [
        {"a": a, "b": b, "kind": kind, "year": None}
        for (a, b), kind in zip(logged.inputs[:3], ["dog", "dog", "cat"], strict=True)
    ]
    again = materialize_feedback(logged.client, "pets", dataset="pets", append_to="latest")
    assert (again.version.version, again.created) == (2, False)

    # more labels: the next export starts again from pets@1, it does not add to pets@2
    _feedback(logged, logged.ids[9:10], ["cat"], logged.start_ms + HOUR, "more")
    more = materialize_feedback(logged.client, "pets", dataset="pets", append_to="latest")
    assert (more.version.version, more.base, more.rows) == (3, "pets@1", 4)
    assert loopml.data.get("pets@3", client=logged.client).to_arrow().num_rows == 8
    # a range that holds only the first request's predictions
    start = logged.start_ms
    window = materialize_feedback(
        logged.client, "pets@1", dataset="pets-first", since_ms=start, until_ms=start + 60_000
    )
    assert window.rows == 3


def test_what_is_missing_or_wrong_is_said(logged: Logged) -> None:
    client = logged.client
    with pytest.raises(NotFoundError, match="No feedback yet for the 12 logged predictions"):
        materialize_feedback(client, "pets@1", dataset="pets")
    with pytest.raises(NotFoundError, match="No logged predictions of pets@1"):
        materialize_feedback(client, "pets@1", dataset="pets", until_ms=logged.start_ms)
    _feedback(logged, logged.ids[:2], ["cat", "dog"], logged.start_ms + HOUR, "first")
    with pytest.raises(InvalidInputError, match="'a' is an input of pets@1"):
        materialize_feedback(client, "pets@1", dataset="pets", target="a")
    with pytest.raises(InvalidInputError, match="The label 'cat' does not fit the target 'year'"):
        materialize_feedback(client, "pets@1", dataset="pets", target="year", append_to=1)
    with pytest.raises(NotFoundError, match="Cannot append to nothing"):
        materialize_feedback(client, "pets@1", dataset="nothing", append_to="latest")
    with pytest.raises(InvalidInputError, match="--since must be before --until"):
        materialize_feedback(client, "pets@1", dataset="pets", since_ms=5, until_ms=5)
    assert [v.version for v in loopml.data.log("pets", client=client)] == [1]  # nothing added
