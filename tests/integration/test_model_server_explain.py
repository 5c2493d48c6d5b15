"""``POST /explain`` on a real ``loopml serve`` over loopback: a JSON body and a CSV body are
explained against the background rows stored at registration (the expected value ``loopml``
stored), each row's contributions add up to what the model predicts locally, and bad input
gets a 4xx naming the field."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import pytest

import loopml.models
from loopml.models.explanations import global_importance
from tests.fixtures.model_server import ModelServer, start_model_server, wait_until_serving
from tests.fixtures.serving_project import TABLE, ServingProject, registered_models


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingProject]:
    with registered_models(tmp_path_factory.mktemp("serving-explain")) as project:
        yield project


@pytest.fixture(scope="module")
def server(project: ServingProject) -> Iterator[ModelServer]:
    started = start_model_server(project.folder, f"{TABLE}@champion")
    try:
        yield wait_until_serving(started)
    finally:
        started.stop()


def test_explanations_add_up_to_the_local_predictions_in_json_and_csv(
    project: ServingProject, server: ModelServer
) -> None:
    rows = project.frame.iloc[100:103]
    model = loopml.models.load(f"{TABLE}@1", client=project.client)
    expected = model.predict_proba(rows)[:, 1]
    stored = global_importance(
        loopml.models.get(f"{TABLE}@1", client=project.client), project.client
    )
    assert stored is not None
    bodies = {
        "json": {
            "json": {
                "dataframe_split": {"columns": list(rows.columns), "data": rows.values.tolist()}
            }
        },
        "csv": {
            "content": rows.to_csv(index=False),
            "headers": {"content-type": "text/csv"},
        },
    }
    for name, body in bodies.items():
        answer = httpx.post(f"{server.url}/explain", timeout=60, **body)  # type: ignore[arg-type]
        assert answer.status_code == 200, (name, answer.text)
        assert answer.headers["x-loopml-model-version"] == f"{TABLE}@1"
        found = answer.json()
        assert found["method"] == "sampled" and found["output"] == "predict_proba"
        assert found["feature_names"] == list(rows.columns)
        assert found["expected_value"] == pytest.approx(stored["expected_value"])
        sums = np.asarray(found["contributions"]).sum(axis=1) + found["expected_value"]
        np.testing.assert_allclose(sums, expected, atol=1e-6, err_msg=name)


def test_bad_input_to_explain_is_refused_naming_the_field(server: ModelServer) -> None:
    answer = httpx.post(
        f"{server.url}/explain", json={"dataframe_records": [{"mean_radius": 1.0}]}, timeout=30
    )
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "input_mismatch" and "dataframe_records[0]" in error["message"]
    empty = httpx.post(f"{server.url}/explain", json={"dataframe_records": []}, timeout=30)
    assert empty.status_code == 422 and "no rows" in empty.json()["error"]["message"]
