"""``loopml serve`` as a real process over loopback: real scikit-learn models registered in a
project, served, and asked over HTTP in both protocols — predictions equal the model's own,
bad input gets a 4xx naming the field, concurrent requests share model calls, and moving the
alias swaps the version without failing a request."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

import loopml.models
from loopml.core.config import init_project
from loopml.tracking.client import Client
from tests.fixtures.model_server import (
    LOOPML,
    ModelServer,
    start_model_server,
    wait_for,
    wait_until_live,
    wait_until_serving,
)

JSON = {"content-type": "application/json"}
CSV = {"content-type": "text/csv"}
TABLE_ARGS = ("--max-rows", "100", "--max-body-bytes", "1000000", "--max-wait-ms", "5")


@dataclass
class Project:
    folder: Path
    client: Client
    x: np.ndarray
    y: np.ndarray
    frame: pd.DataFrame


def _classifier() -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """A project with the models the servers serve: an array model, a table model, an
    array model with an ONNX variant, a model whose alias is not set yet, and one with two
    versions to swap between."""
    folder = tmp_path_factory.mktemp("serving")
    config = init_project(folder)
    x, y = load_breast_cancer(return_X_y=True)
    frame = load_breast_cancer(as_frame=True).frame.drop(columns="target")
    frame.columns = [name.replace(" ", "_") for name in frame.columns]
    with Client(config.store_uri, config.artifact_uri) as client:
        register = loopml.models.register
        array = register(
            "cancer-array", _classifier().fit(x, y), input_example=x[:5], client=client
        )
        table = register(
            "cancer-table", _classifier().fit(frame, y), input_example=frame.head(5), client=client
        )
        onnx = register(
            "cancer-onnx", _classifier().fit(x, y), input_example=x[:5], onnx=True, client=client
        )
        register("later", _classifier().fit(x, y), input_example=x[:5], client=client)
        swap = register("swap", _classifier().fit(x, y), input_example=x[:5], client=client)
        register("swap", _classifier().fit(x, 1 - y), input_example=x[:5], client=client)
        for version in (array, table, onnx, swap):
            loopml.models.set_alias(version.model, "champion", version.version, client=client)
        yield Project(folder, client, x, y, frame)


@pytest.fixture(scope="module")
def servers(project: Project) -> Iterator[dict[str, ModelServer]]:
    """Every server of the module, started at once so they warm up side by side."""
    bundle = loopml.models.package(
        "cancer-table@champion", project.folder / "bundle", client=project.client
    )
    tampered = loopml.models.package(
        "cancer-array@1", project.folder / "tampered", client=project.client
    )
    example = tampered / "model" / "input_example.json"
    example.write_text(example.read_text(encoding="utf-8") + " ", encoding="utf-8")
    started = {
        "array": start_model_server(project.folder, "cancer-array@champion", "--no-onnx"),
        "table": start_model_server(project.folder, "cancer-table@champion", *TABLE_ARGS),
        "onnx": start_model_server(project.folder, "cancer-onnx@champion"),
        "later": start_model_server(project.folder, "later@champion", "--poll-seconds", "0.1"),
        "swap": start_model_server(project.folder, "swap@champion", "--poll-seconds", "0.1"),
        "bundle": start_model_server(project.folder, str(bundle)),
        "tampered": start_model_server(project.folder, str(tampered)),
    }
    try:
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="module")
def table_url(servers: dict[str, ModelServer]) -> str:
    return wait_until_serving(servers["table"]).url


@pytest.fixture(scope="module")
def array_url(servers: dict[str, ModelServer]) -> str:
    return wait_until_serving(servers["array"]).url


def _local(project: Project, ref: str, inputs: Any) -> list[Any]:
    predictions = loopml.models.load(ref, client=project.client).predict(inputs)
    return list(np.asarray(predictions).tolist())


def _invocations(url: str, body: Any, headers: dict[str, str] = JSON) -> httpx.Response:
    content = body if isinstance(body, str | bytes) else None
    return httpx.post(
        f"{url}/invocations",
        content=content,
        json=None if content is not None else body,
        headers=headers,
        timeout=30,
    )


def _metrics(url: str) -> dict[str, list[Any]]:
    text = httpx.get(f"{url}/metrics").text
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


# -- predictions ------------------------------------------------------------------------------


def test_the_four_json_formats_and_csv_predict_what_the_table_model_predicts_locally(
    project: Project, table_url: str
) -> None:
    rows = project.frame.iloc[:20]
    expected = _local(project, "cancer-table@1", rows)
    bodies: dict[str, Any] = {
        "dataframe_split": {
            "dataframe_split": {"columns": list(rows.columns), "data": rows.values.tolist()}
        },
        "dataframe_records": {"dataframe_records": rows.to_dict(orient="records")},
        "instances": {"instances": rows.to_dict(orient="records")},
        "inputs": {"inputs": {name: rows[name].tolist() for name in rows.columns}},
    }
    for name, body in bodies.items():
        response = _invocations(table_url, body)
        assert response.status_code == 200, (name, response.text)
        assert response.json()["predictions"] == expected, name
    response = _invocations(table_url, rows.to_csv(index=False), CSV)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == expected


def test_the_array_model_answers_every_format_like_the_model_locally(
    project: Project, array_url: str
) -> None:
    rows = project.x[:20]
    expected = _local(project, "cancer-array@1", rows)
    records = [{f"f{i}": value for i, value in enumerate(row)} for row in rows.tolist()]
    bodies = [
        {"inputs": rows.tolist()},
        {"instances": rows.tolist()},
        {"dataframe_split": {"columns": [f"f{i}" for i in range(30)], "data": rows.tolist()}},
        {"dataframe_records": records},
    ]
    for body in bodies:
        response = _invocations(array_url, body)
        assert response.status_code == 200, response.text
        assert response.json()["predictions"] == expected
    csv = pd.DataFrame(rows, columns=[f"f{i}" for i in range(30)]).to_csv(index=False)
    assert _invocations(array_url, csv, CSV).json()["predictions"] == expected


def test_every_prediction_names_its_model_version_and_has_an_id_per_row(
    project: Project, array_url: str
) -> None:
    response = _invocations(
        array_url, {"inputs": project.x[:3].tolist()}, {**JSON, "x-request-id": "req-42"}
    )
    body = response.json()
    assert body["model_version"] == "cancer-array@1"
    assert response.headers["x-loopml-model-version"] == "cancer-array@1"
    assert response.headers["x-request-id"] == "req-42"
    assert len(body["prediction_ids"]) == 3 and len(set(body["prediction_ids"])) == 3
    again = _invocations(array_url, {"inputs": project.x[:1].tolist()}).json()
    assert again["prediction_ids"][0] not in body["prediction_ids"]


def test_an_open_inference_protocol_infer_round_trip_gives_the_local_predictions(
    project: Project, array_url: str, table_url: str
) -> None:
    rows = project.x[:7]
    request = {
        "id": "oip-1",
        "inputs": [
            {"name": "inputs", "shape": [7, 30], "datatype": "FP64", "data": rows.ravel().tolist()}
        ],
        "outputs": [{"name": "predictions"}],
    }
    response = httpx.post(f"{array_url}/v2/models/cancer-array/infer", json=request)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model_name"], body["model_version"], body["id"]) == ("cancer-array", "1", "oip-1")
    (output,) = body["outputs"]
    assert (output["name"], output["shape"], output["datatype"]) == ("predictions", [7], "INT64")
    assert output["data"] == _local(project, "cancer-array@1", rows)
    assert len(body["parameters"]["prediction_ids"]) == 7
    versioned = httpx.post(f"{array_url}/v2/models/cancer-array/versions/1/infer", json=request)
    assert versioned.json()["outputs"][0]["data"] == output["data"]

    table = project.frame.iloc[:4]
    columns = [
        {"name": name, "shape": [4], "datatype": "FP64", "data": table[name].tolist()}
        for name in table.columns
    ]
    response = httpx.post(f"{table_url}/v2/models/cancer-table/infer", json={"inputs": columns})
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == _local(project, "cancer-table@1", table)


def test_the_onnx_variant_is_served_and_predicts_like_the_native_model(
    project: Project, servers: dict[str, ModelServer]
) -> None:
    url = wait_until_serving(servers["onnx"]).url
    version = httpx.get(f"{url}/version").json()
    assert (version["model_version"], version["variant"]) == ("cancer-onnx@1", "onnx")
    assert httpx.get(f"{url}/v2/models/cancer-onnx").json()["platform"] == "onnxruntime"
    rows = project.x[:50]
    response = _invocations(url, {"inputs": rows.tolist()})
    assert response.json()["predictions"] == _local(project, "cancer-onnx@1", rows)


def test_a_bundle_folder_is_served_without_a_store(
    project: Project, servers: dict[str, ModelServer]
) -> None:
    url = wait_until_serving(servers["bundle"]).url
    rows = project.frame.iloc[:5]
    body = {"dataframe_records": rows.to_dict(orient="records")}
    response = _invocations(url, body)
    assert response.status_code == 200, response.text
    assert response.json()["model_version"] == "cancer-table@1"
    assert response.json()["predictions"] == _local(project, "cancer-table@1", rows)
    assert "bundle" in httpx.get(f"{url}/version").json()["source"]


def test_a_bundle_whose_model_files_were_changed_is_never_served(
    project: Project, servers: dict[str, ModelServer]
) -> None:
    url = wait_until_live(servers["tampered"]).url

    def refused_for_its_digest() -> bool:
        response = httpx.get(f"{url}/health")
        return response.status_code == 503 and "do not match the digest" in response.text

    assert wait_for(refused_for_its_digest)
    refused = _invocations(url, {"inputs": project.x[:1].tolist()})
    assert refused.status_code == 503 and "do not match the digest" in refused.text


# -- metadata and health ----------------------------------------------------------------------


def test_metadata_endpoints_describe_the_model_from_its_signature(
    table_url: str, array_url: str
) -> None:
    metadata = httpx.get(f"{array_url}/v2/models/cancer-array").json()
    assert metadata["name"] == "cancer-array" and metadata["versions"] == ["1"]
    assert metadata["inputs"] == [{"name": "inputs", "datatype": "FP64", "shape": [-1, 30]}]
    assert metadata["outputs"] == [{"name": "predictions", "datatype": "INT64", "shape": [-1]}]
    table = httpx.get(f"{table_url}/v2/models/cancer-table/versions/1").json()
    assert table["inputs"][0] == {"name": "mean_radius", "datatype": "FP64", "shape": [-1]}
    assert len(table["inputs"]) == 30
    assert httpx.get(f"{table_url}/v2/models/cancer-table/ready").json() == {
        "name": "cancer-table",
        "ready": True,
    }
    assert httpx.get(f"{table_url}/v2/models/cancer-table/versions/1/ready").status_code == 200
    assert httpx.get(f"{table_url}/v2/models/cancer-table/versions/2").status_code == 404
    assert httpx.get(f"{table_url}/v2/models/other").status_code == 404
    assert httpx.get(f"{table_url}/v2").json()["name"] == "loopml"
    assert httpx.get(f"{table_url}/version").json()["model_version"] == "cancer-table@1"
    paths = httpx.get(f"{table_url}/openapi.json").json()["paths"]
    assert "/invocations" in paths and "/v2/models/{name}/infer" in paths
    assert httpx.get(f"{table_url}/docs").status_code == 200


def test_health_is_503_until_the_alias_is_set_and_the_model_loaded_then_200(
    project: Project, servers: dict[str, ModelServer]
) -> None:
    url = wait_until_live(servers["later"]).url
    for path in ("/health", "/ping", "/v2/health/ready", "/v2/models/later/ready"):
        assert httpx.get(f"{url}{path}").status_code == 503, path
    refused = _invocations(url, {"inputs": project.x[:1].tolist()})
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "model_not_ready"
    assert httpx.get(f"{url}/v2/health/live").status_code == 200

    loopml.models.set_alias("later", "champion", 1, client=project.client)
    assert wait_for(lambda: httpx.get(f"{url}/health").status_code == 200)
    assert httpx.get(f"{url}/health").json()["model_version"] == "later@1"
    assert httpx.get(f"{url}/v2/health/ready").json() == {"ready": True}
    assert _invocations(url, {"inputs": project.x[:1].tolist()}).status_code == 200


# -- bad input --------------------------------------------------------------------------------


def _split(frame: pd.DataFrame, columns: list[str] | None = None) -> dict[str, Any]:
    return {
        "dataframe_split": {
            "columns": columns or list(frame.columns),
            "data": frame.values.tolist(),
        }
    }


def _bad_table_requests(frame: pd.DataFrame) -> list[tuple[str, Any, dict[str, str], int, str]]:
    """(case, body, headers, status, text the message must hold)."""
    rows = frame.iloc[:2]
    renamed = list(rows.columns)
    renamed[3] = "mean_ara"
    record = rows.iloc[0].to_dict()
    missing = {k: v for k, v in record.items() if k != "mean_texture"}
    extra = {**record, "colour": 3}
    text_value = rows.values.tolist()
    text_value[1][2] = "wide"
    null_value = rows.values.tolist()
    null_value[0][5] = None
    too_many = frame.iloc[:101]
    too_big = '{"inputs": [' + ",".join(["1.5"] * 300_000) + "]}"
    bad_csv = rows.to_csv(index=False).replace(str(rows.iloc[1, 0]), "abc", 1)
    return [
        (
            "misspelled column",
            _split(rows, renamed),
            JSON,
            422,
            "dataframe_split.columns[3]: expected 'mean_area', got 'mean_ara'",
        ),
        (
            "missing column",
            {"dataframe_records": [missing]},
            JSON,
            422,
            "dataframe_records[0]: missing column 'mean_texture'",
        ),
        (
            "extra column",
            {"dataframe_records": [extra]},
            JSON,
            422,
            "dataframe_records[0].colour: unknown column",
        ),
        (
            "wrong type",
            {"dataframe_split": {"columns": list(rows.columns), "data": text_value}},
            JSON,
            422,
            "dataframe_split.data[1][2] (column 'mean_perimeter'): expected a number",
        ),
        (
            "null",
            {"dataframe_split": {"columns": list(rows.columns), "data": null_value}},
            JSON,
            422,
            "dataframe_split.data[0][5] (column 'mean_compactness'): a missing value",
        ),
        ("too many rows", _split(too_many), JSON, 413, "101 rows"),
        ("body too large", too_big, JSON, 413, "--max-body-bytes"),
        ("malformed JSON", '{"dataframe_split": {', JSON, 400, "not valid JSON"),
        ("empty body", "", JSON, 400, "The body is empty"),
        ("unknown key", {"dataframe": []}, JSON, 400, "dataframe: unknown key"),
        ("media type", "<rows/>", {"content-type": "application/xml"}, 415, "application/xml"),
        ("bad CSV value", bad_csv, CSV, 422, "text/csv row 2 (column 'mean_radius')"),
        ("CSV header", "a,b\n1,2\n", CSV, 422, "text/csv header[0]"),
    ]


def test_bad_table_input_gets_a_4xx_naming_the_field_never_a_5xx(
    project: Project, table_url: str
) -> None:
    for case, body, headers, status, text in _bad_table_requests(project.frame):
        response = _invocations(table_url, body, headers)
        assert response.status_code == status, (case, response.text)
        error = response.json()["error"]
        assert text in error["message"], (case, error)
        assert error["code"] and response.headers["x-request-id"]


def test_bad_array_input_gets_a_4xx_naming_the_field(project: Project, array_url: str) -> None:
    row = project.x[0].tolist()
    cases = [
        ({"inputs": [row[:29]]}, "inputs: expected shape [-1, 30]"),
        ({"inputs": [row, row[:29]]}, "inputs[1]: 29 values, but inputs[0] has 30"),
        ({"instances": [[*row[:3], "x", *row[4:]]]}, "instances[0][3]: expected a number"),
        ({"inputs": [[*row[:7], None, *row[8:]]]}, "inputs[0][7]: a missing value"),
        ({"inputs": row}, "inputs: expected shape [-1, 30]"),
    ]
    for body, text in cases:
        response = _invocations(array_url, body)
        assert response.status_code == 422, response.text
        assert text in response.json()["error"]["message"]
    infer = f"{array_url}/v2/models/cancer-array/infer"
    tensor = {"name": "inputs", "shape": [2, 30], "datatype": "FP64", "data": row}
    oip_cases = [
        ({"inputs": [tensor]}, 422, "inputs[0].data: 30 values, but shape [2, 30] holds 60"),
        ({"inputs": [{**tensor, "name": "x"}]}, 422, "inputs[0].name"),
        ({"inputs": [{**tensor, "datatype": "BYTES"}]}, 422, "inputs[0].datatype"),
        ({"inputs": [{**tensor, "datatype": "FP99"}]}, 400, "inputs[0].datatype"),
        ({"inputs": [{**tensor, "shape": "2x30"}]}, 400, "inputs[0].shape"),
        ({"inputs": []}, 400, "inputs: expected a non-empty list"),
    ]
    for body, status, text in oip_cases:
        response = httpx.post(infer, json=body)
        assert response.status_code == status, response.text
        assert text in response.json()["error"]["message"]
    assert httpx.post(f"{array_url}/v2/models/other/infer", json={}).status_code == 404


# -- load -------------------------------------------------------------------------------------


async def _concurrently(url: str, bodies: list[Any]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        return await asyncio.gather(
            *(client.post(f"{url}/invocations", json=body) for body in bodies)
        )


def test_concurrent_requests_all_succeed_and_share_model_calls(
    project: Project, table_url: str
) -> None:
    rows = project.frame.iloc[:64]
    expected = _local(project, "cancer-table@1", rows)
    bodies = [{"dataframe_records": [record]} for record in rows.to_dict(orient="records")]
    shared = False
    for _round in range(5):  # batches form under load; a few rounds make sure they did
        responses = asyncio.run(_concurrently(table_url, bodies))
        assert [r.status_code for r in responses] == [200] * 64
        assert [r.json()["predictions"][0] for r in responses] == expected
        samples = _metrics(table_url)["loopml_serving_batch_size"]
        single = next(s.value for s in samples if s.labels.get("le") == "1.0")
        calls = next(s.value for s in samples if s.name.endswith("_count"))
        shared = calls > single  # some model call answered more than one request
        if shared:
            break
    assert shared


def test_metrics_count_requests_by_endpoint_status_and_model_version(
    project: Project, table_url: str
) -> None:
    _invocations(table_url, {"dataframe_records": project.frame.iloc[:1].to_dict("records")})
    _invocations(table_url, {"dataframe_records": [{"nope": 1}]})
    samples = _metrics(table_url)["loopml_serving_requests"]
    counts = {
        (s.labels["endpoint"], s.labels["status"], s.labels["model_version"]): s.value
        for s in samples
        if s.name.endswith("_total")
    }
    assert counts[("/invocations", "200", "cancer-table@1")] >= 1
    assert counts[("/invocations", "422", "")] >= 1
    assert "loopml_serving_request_duration_seconds" in _metrics(table_url)


def test_moving_the_alias_swaps_the_version_under_traffic_without_a_failed_request(
    project: Project, servers: dict[str, ModelServer]
) -> None:
    url = wait_until_serving(servers["swap"]).url
    rows = project.x[:5]
    body = {"inputs": rows.tolist()}
    expected = {
        "swap@1": _local(project, "swap@1", rows),
        "swap@2": _local(project, "swap@2", rows),
    }
    assert expected["swap@1"] != expected["swap@2"]
    answers: list[list[tuple[int, str, Any]]] = [[], []]
    stop = threading.Event()

    def send(answered: list[tuple[int, str, Any]]) -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                response = client.post(f"{url}/invocations", json=body)
                payload = response.json()
                answered.append(
                    (response.status_code, payload.get("model_version"), payload.get("predictions"))
                )

    senders = [threading.Thread(target=send, args=(a,)) for a in answers]
    for sender in senders:
        sender.start()
    try:
        assert wait_for(lambda: all(len(a) >= 20 for a in answers))
        loopml.models.set_alias("swap", "champion", 2, client=project.client)
        assert wait_for(lambda: all(a and a[-1][1] == "swap@2" for a in answers))
        settled = [len(a) for a in answers]
        assert wait_for(
            lambda: all(len(a) >= n + 20 for a, n in zip(answers, settled, strict=True))
        )
    finally:
        stop.set()
        for sender in senders:
            sender.join()
    for answered in answers:
        assert {status for status, _, _ in answered} == {200}
        versions = [version for _, version, _ in answered]
        switch = versions.index("swap@2")
        assert set(versions[:switch]) == {"swap@1"} and set(versions[switch:]) == {"swap@2"}
        assert all(predictions == expected[version] for _, version, predictions in answered)


# -- the command ------------------------------------------------------------------------------


def test_serving_a_model_that_does_not_exist_exits_2_naming_it(project: Project) -> None:
    result = subprocess.run(
        [str(LOOPML), "serve", "no-such-model@champion", "--port", "0"],
        cwd=project.folder,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no-such-model" in result.stderr
