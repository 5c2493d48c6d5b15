"""Fuzz the real ``loopml serve`` over loopback from its own OpenAPI document (schemathesis),
for a table model and an array model: no request to any operation gets a 5xx, and every
answer is one the document promises (status code, content type, body schema).

Two generators: schemathesis's own, valid and invalid by the document, for every operation;
and rows shaped like the model's signature (its real input names, 0-4 rows, now and then an
odd value in a cell) in every input format, which reach the model itself.

The document is fetched from the running server inside the test, so cases come from
``APIOperation.as_strategy`` under Hypothesis's ``@given`` rather than from
``schemathesis.pytest.from_fixture``: that loader renames the pytest item through a private
attribute pytest 9.2 no longer has (``'Function' object has no attribute '_nodeid'``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.errors import FailureGroup

from tests.fixtures.model_server import ModelServer, start_model_server, wait_until_serving
from tests.fixtures.serving_project import ARRAY, TABLE, ServingProject, registered_models

# No example database: the per-operation tests share one function name, so they would share
# entries; a failure prints its request as a curl command instead.
FUZZ = settings(max_examples=40, deadline=None, database=None)  # per operation, 15 of them
ROWS = settings(max_examples=100, deadline=None, database=None)
FEATURES = 30

# The checks the server must pass. Left out: ``positive_data_acceptance`` (a 2xx for every
# body the document allows): the document says a body is a table or tensors, not which
# columns the served model takes, so most schema-valid bodies are rightly refused with 422;
# the others need schemathesis's coverage or stateful phases, or auth, none of which apply.
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.negative_data_rejection,
]


@dataclass(frozen=True)
class Served:
    model: str
    url: str
    api: schemathesis.BaseSchema


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingProject]:
    with registered_models(tmp_path_factory.mktemp("serving-fuzz")) as project:
        yield project


@pytest.fixture(scope="module")
def servers(project: ServingProject) -> Iterator[dict[str, ModelServer]]:
    """Both servers, started at once so they warm up side by side."""
    started = {
        model: start_model_server(project.folder, f"{model}@champion") for model in (TABLE, ARRAY)
    }
    try:
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="module", params=[TABLE, ARRAY])
def served(request: pytest.FixtureRequest, servers: dict[str, ModelServer]) -> Served:
    """One server once its model is loaded, and the OpenAPI document it serves."""
    server = wait_until_serving(servers[request.param])
    api = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    return Served(request.param, server.url, api)


def _failures(runs: dict[str, Callable[[], None]]) -> str:
    """Run every Hypothesis test (by name) to the end; their failures, one paragraph each."""
    failures = []
    for name, run in runs.items():
        try:
            run()
        except (AssertionError, FailureGroup) as exc:
            failures.append(f"{name}:\n{exc}")
    return "\n\n".join(failures)


def test_no_generated_request_to_any_operation_gets_a_server_error(served: Served) -> None:
    runs: dict[str, Callable[[], None]] = {}
    for operation in (op for methods in served.api.values() for op in methods.values()):
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @FUZZ
        @given(case=cases)
        def call(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(checks=CHECKS)

        runs[operation.label] = call
    assert len(runs) == 17, list(runs)  # a new route is fuzzed too: count it here
    failures = _failures(runs)
    assert not failures, failures


# -- rows shaped like the signature -----------------------------------------------------------

# Numbers every model here takes: far from float64's limits, where scaling overflows (the
# server then answers 422 "prediction_failed", rightly; ODD_VALUES holds such numbers).
NUMBERS = st.floats(min_value=-1e12, max_value=1e12)
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # beyond int64 too
    st.floats(min_value=1e300, allow_infinity=False),
    st.floats(max_value=-1e300, allow_infinity=False),
    st.text(max_size=6),
    st.lists(NUMBERS, max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
)
FORMATS = ["dataframe_split", "dataframe_records", "instances", "inputs", "csv", "oip"]


@dataclass(frozen=True)
class Rows:
    """Rows to send: NUMBERS, unless ``odd`` put one of ODD_VALUES in one cell."""

    values: list[list[Any]]
    odd: bool


@st.composite
def _rows(draw: st.DrawFn) -> Rows:
    count = draw(st.integers(min_value=0, max_value=4))
    row = st.lists(NUMBERS, min_size=FEATURES, max_size=FEATURES)
    values: list[list[Any]] = draw(st.lists(row, min_size=count, max_size=count))
    odd = bool(values) and draw(st.booleans())
    if odd:
        cell = draw(st.integers(0, count * FEATURES - 1))
        values[cell // FEATURES][cell % FEATURES] = draw(ODD_VALUES)
    return Rows(values, odd)


def _csv(columns: list[str] | None, values: list[list[Any]]) -> str:
    """A CSV body: a header line (a table model's), then the rows."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    if columns is not None:
        writer.writerow(columns)
    writer.writerows([[repr(v) if isinstance(v, float) else v for v in row] for row in values])
    return text.getvalue()


def _request(served: Served, columns: list[str], values: list[list[Any]], form: str) -> Any:
    """The rows in format ``form``, as a case of the operation that takes that format."""
    table = served.model == TABLE
    by_column = {name: [row[i] for row in values] for i, name in enumerate(columns)}
    if form == "oip":
        tensors: list[dict[str, Any]] = (
            [
                {"name": name, "shape": [len(values)], "datatype": "FP64", "data": column}
                for name, column in by_column.items()
            ]
            if table
            else [
                {
                    "name": "inputs",
                    "shape": [len(values), FEATURES],
                    "datatype": "FP64",
                    "data": [value for row in values for value in row],
                }
            ]
        )
        infer = served.api["/v2/models/{name}/infer"]["POST"]
        body: dict[str, Any] = {"inputs": tensors}
        return infer.Case(path_parameters={"name": served.model}, body=body)
    invocations = served.api["/invocations"]["POST"]
    if form == "csv":
        header = columns if table else None  # an array model's CSV has no header line
        return invocations.Case(body=_csv(header, values), media_type="text/csv")
    records = [dict(zip(columns, row, strict=True)) for row in values]
    bodies: dict[str, Any] = {
        "dataframe_split": {"dataframe_split": {"columns": columns, "data": values}},
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": records if table else values},
        "inputs": {"inputs": by_column if table else values},
    }
    return invocations.Case(body=bodies[form], media_type="application/json")


def _columns(served: Served, project: ServingProject) -> list[str]:
    return (
        list(project.frame.columns) if served.model == TABLE else [f"f{i}" for i in range(FEATURES)]
    )


def _local(project: ServingProject, model: str, columns: list[str], values: list[Any]) -> Any:
    if not values:
        return []
    inputs = pd.DataFrame(values, columns=columns) if model == TABLE else np.asarray(values)
    return project.local_predictions(f"{model}@1", inputs)


def test_rows_shaped_like_the_signature_never_get_a_server_error_and_valid_rows_predict_locally(
    served: Served, project: ServingProject
) -> None:
    columns = _columns(served, project)

    @ROWS
    @given(rows=_rows(), form=st.sampled_from(FORMATS))
    def call(rows: Rows, form: str) -> None:
        case = _request(served, columns, rows.values, form)
        response = case.call_and_validate(checks=CHECKS)
        if rows.odd:
            return
        assert response.status_code == 200, response.text
        body = response.json()
        predictions = body["outputs"][0]["data"] if form == "oip" else body["predictions"]
        assert predictions == _local(project, served.model, columns, rows.values)

    call()


# -- what the fuzzing found (each was a bug, fixed; kept as plain requests) ------------------


def test_a_csv_body_with_a_header_and_no_rows_is_answered_like_the_json_formats(
    project: ServingProject, servers: dict[str, ModelServer]
) -> None:
    """Like every JSON format with no rows: 200, no predictions (it was a 500 for the table
    model, the empty column's finiteness check reading row -1)."""
    url = wait_until_serving(servers[TABLE]).url
    response = httpx.post(
        f"{url}/invocations",
        content=",".join(project.frame.columns) + "\n",
        headers={"content-type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == []


def test_a_carriage_return_inside_the_csv_header_line_gets_a_4xx(served: Served) -> None:
    """(It was a 500: the csv module's error got out.)"""
    response = httpx.post(
        f"{served.url}/invocations", content=b"a\rb", headers={"content-type": "text/csv"}
    )
    assert 400 <= response.status_code < 500, response.text


def test_a_dataframe_split_index_that_is_not_a_list_gets_a_4xx(
    served: Served, project: ServingProject
) -> None:
    split = {"columns": _columns(served, project), "data": [], "index": 5}
    response = httpx.post(f"{served.url}/invocations", json={"dataframe_split": split})
    assert 400 <= response.status_code < 500, response.text


def test_the_array_model_refuses_a_dataframe_split_without_a_list_of_column_names(
    project: ServingProject, servers: dict[str, ModelServer]
) -> None:
    """The table model answers these 400 ("expected a list of column names")."""
    url = wait_until_serving(servers[ARRAY]).url
    row = project.x[0].tolist()
    for split in (
        {"data": [row]},
        {"columns": None, "data": [row]},
        {"columns": {}, "data": [row]},
    ):
        response = httpx.post(f"{url}/invocations", json={"dataframe_split": split})
        assert 400 <= response.status_code < 500, (split, response.text)
