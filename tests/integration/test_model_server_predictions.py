"""``loopml serve`` as a real process over loopback, asked for predictions: real scikit-learn
models (one fitted on a table, one on an array) registered in a project and served; every
format and both protocols predict what the model predicts locally, the metadata describes the
model, bad input gets a 4xx naming the field, and concurrent requests share model calls."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.fixtures.model_server import (
    ModelServer,
    start_model_server,
    wait_until_serving,
)
from tests.fixtures.model_server_requests import CSV, JSON, invocations, serving_metrics
from tests.fixtures.serving_project import ServingProject, registered_models

TABLE_ARGS = ("--max-rows", "100", "--max-body-bytes", "1000000", "--max-wait-ms", "5")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingProject]:
    """A project with ``cancer-array`` and ``cancer-table`` at ``@champion``."""
    with registered_models(tmp_path_factory.mktemp("serving")) as project:
        yield project


@pytest.fixture(scope="module")
def servers(project: ServingProject) -> Iterator[dict[str, ModelServer]]:
    """Both servers of the module, started at once so they warm up side by side."""
    started = {
        "array": start_model_server(project.folder, "cancer-array@champion", "--no-onnx"),
        "table": start_model_server(project.folder, "cancer-table@champion", *TABLE_ARGS),
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


# -- predictions ------------------------------------------------------------------------------


def test_the_four_json_formats_and_csv_predict_what_the_table_model_predicts_locally(
    project: ServingProject, table_url: str
) -> None:
    rows = project.frame.iloc[:20]
    expected = project.local_predictions("cancer-table@1", rows)
    bodies: dict[str, Any] = {
        "dataframe_split": {
            "dataframe_split": {"columns": list(rows.columns), "data": rows.values.tolist()}
        },
        "dataframe_records": {"dataframe_records": rows.to_dict(orient="records")},
        "instances": {"instances": rows.to_dict(orient="records")},
        "inputs": {"inputs": {name: rows[name].tolist() for name in rows.columns}},
    }
    for name, body in bodies.items():
        response = invocations(table_url, body)
        assert response.status_code == 200, (name, response.text)
        assert response.json()["predictions"] == expected, name
    response = invocations(table_url, rows.to_csv(index=False), CSV)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == expected


def test_the_array_model_answers_every_format_like_the_model_locally(
    project: ServingProject, array_url: str
) -> None:
    rows = project.x[:20]
    expected = project.local_predictions("cancer-array@1", rows)
    records = [{f"f{i}": value for i, value in enumerate(row)} for row in rows.tolist()]
    bodies = [
        {"inputs": rows.tolist()},
        {"instances": rows.tolist()},
        {"dataframe_split": {"columns": [f"f{i}" for i in range(30)], "data": rows.tolist()}},
        {"dataframe_records": records},
    ]
    for body in bodies:
        response = invocations(array_url, body)
        assert response.status_code == 200, response.text
        assert response.json()["predictions"] == expected
    csv = pd.DataFrame(rows, columns=[f"f{i}" for i in range(30)]).to_csv(index=False)
    with_header = {"content-type": "text/csv; header=present"}
    assert invocations(array_url, csv, with_header).json()["predictions"] == expected
    one_line = pd.DataFrame(rows[:1]).to_csv(index=False, header=False)  # once read as a header
    assert invocations(array_url, one_line, CSV).json()["predictions"] == expected[:1]


def test_every_prediction_names_its_model_version_and_has_an_id_per_row(
    project: ServingProject, array_url: str
) -> None:
    response = invocations(
        array_url, {"inputs": project.x[:3].tolist()}, {**JSON, "x-request-id": "req-42"}
    )
    body = response.json()
    assert body["model_version"] == "cancer-array@1"
    assert response.headers["x-loopml-model-version"] == "cancer-array@1"
    assert response.headers["x-request-id"] == "req-42"
    assert len(body["prediction_ids"]) == 3 and len(set(body["prediction_ids"])) == 3
    again = invocations(array_url, {"inputs": project.x[:1].tolist()}).json()
    assert again["prediction_ids"][0] not in body["prediction_ids"]


def test_an_open_inference_protocol_infer_round_trip_gives_the_local_predictions(
    project: ServingProject, array_url: str, table_url: str
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
    assert output["data"] == project.local_predictions("cancer-array@1", rows)
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
    assert response.json()["outputs"][0]["data"] == project.local_predictions(
        "cancer-table@1", table
    )


def _binary_infer(header: dict[str, Any], tail: bytes) -> tuple[bytes, dict[str, str]]:
    """An infer request in the binary tensor data extension's form, as Triton's client
    builds it (JSON, then the raw tensors; no Content-Type)."""
    head = json.dumps(header).encode()
    return head + tail, {"inference-header-content-length": str(len(head))}


def test_binary_tensor_requests_predict_like_json_and_can_be_answered_in_binary(
    project: ServingProject, array_url: str, table_url: str
) -> None:
    rows = project.x[:5]
    url = f"{array_url}/v2/models/cancer-array/infer"
    tensor = {"name": "inputs", "shape": [5, 30], "datatype": "FP32"}
    raw = rows.astype("<f4").tobytes()
    body, headers = _binary_infer(
        {"inputs": [{**tensor, "parameters": {"binary_data_size": len(raw)}}]}, raw
    )
    response = httpx.post(url, content=body, headers=headers)
    assert response.status_code == 200, response.text
    expected = project.local_predictions("cancer-array@1", rows.astype("<f4").astype(float))
    assert response.json()["outputs"][0]["data"] == expected

    asked = {
        "inputs": [{**tensor, "parameters": {"binary_data_size": len(raw)}}],
        "outputs": [{"name": "predictions", "parameters": {"binary_data": True}}],
    }
    body, headers = _binary_infer(asked, raw)
    answer = httpx.post(url, content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/octet-stream"
    split = int(answer.headers["inference-header-content-length"])
    header = json.loads(answer.content[:split])
    (output,) = header["outputs"]
    assert output["datatype"] == "INT64" and output["parameters"]["binary_data_size"] == 40
    assert np.frombuffer(answer.content[split:], "<i8").tolist() == expected

    columns = project.frame.iloc[:3]
    raws = [columns[name].to_numpy("<f8").tobytes() for name in columns.columns]
    inputs = [
        {"name": name, "shape": [3], "datatype": "FP64", "parameters": {"binary_data_size": 24}}
        for name in columns.columns
    ]
    body, headers = _binary_infer({"inputs": inputs}, b"".join(raws))
    table = httpx.post(f"{table_url}/v2/models/cancer-table/infer", content=body, headers=headers)
    assert table.status_code == 200, table.text
    assert table.json()["outputs"][0]["data"] == project.local_predictions(
        "cancer-table@1", columns
    )

    short, headers = _binary_infer(
        {"inputs": [{**tensor, "parameters": {"binary_data_size": len(raw) + 8}}]}, raw
    )
    refused = httpx.post(url, content=short, headers=headers)
    assert refused.status_code == 400 and "binary_data_size" in refused.json()["error"]


def test_gzip_bodies_are_decompressed_within_the_body_limit(
    project: ServingProject, array_url: str, table_url: str
) -> None:
    plain = json.dumps({"inputs": project.x[:3].tolist()}).encode()
    zipped = {**JSON, "content-encoding": "gzip"}
    response = httpx.post(f"{array_url}/invocations", content=gzip.compress(plain), headers=zipped)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == project.local_predictions(
        "cancer-array@1", project.x[:3]
    )
    tensor = {"name": "inputs", "shape": [1, 30], "datatype": "FP64", "data": project.x[0].tolist()}
    infer = json.dumps({"inputs": [tensor]}).encode()
    answer = httpx.post(
        f"{array_url}/v2/models/cancer-array/infer", content=gzip.compress(infer), headers=zipped
    )
    assert answer.status_code == 200, answer.text

    bomb = gzip.compress(b" " * 5_000_000)  # 5 MB of spaces: ~5 kB sent, over --max-body-bytes
    too_large = httpx.post(f"{table_url}/invocations", content=bomb, headers=zipped)
    assert too_large.status_code == 413, too_large.text
    assert "expands to more than 1000000 bytes" in too_large.json()["message"]
    brotli = httpx.post(
        f"{array_url}/invocations", content=plain, headers={**JSON, "content-encoding": "br"}
    )
    assert brotli.status_code == 415 and "'br' is not supported" in brotli.json()["message"]
    broken = httpx.post(f"{array_url}/invocations", content=plain, headers=zipped)
    assert broken.status_code == 400 and "not valid gzip" in broken.json()["message"]


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
    project: ServingProject, table_url: str
) -> None:
    for case, body, headers, status, text in _bad_table_requests(project.frame):
        response = invocations(table_url, body, headers)
        assert response.status_code == status, (case, response.text)
        error = response.json()  # MLflow's shape, so MLflow's clients show it
        assert set(error) == {"error_code", "message"}, (case, error)
        assert text in error["message"], (case, error)
        assert error["error_code"] in ("BAD_REQUEST", "REQUEST_LIMIT_EXCEEDED"), (case, error)
        assert response.headers["x-loopml-error-code"] and response.headers["x-request-id"]


def test_bad_array_input_gets_a_4xx_naming_the_field(
    project: ServingProject, array_url: str
) -> None:
    row = project.x[0].tolist()
    cases = [
        ({"inputs": [row[:29]]}, "inputs: expected shape [-1, 30]"),
        ({"inputs": [row, row[:29]]}, "inputs[1]: 29 values, but inputs[0] has 30"),
        ({"instances": [[*row[:3], "x", *row[4:]]]}, "instances[0][3]: expected a number"),
        ({"inputs": [[*row[:7], None, *row[8:]]]}, "inputs[0][7]: a missing value"),
        ({"inputs": row}, "inputs: expected shape [-1, 30]"),
    ]
    for body, text in cases:
        response = invocations(array_url, body)
        assert response.status_code == 422, response.text
        assert text in response.json()["message"]
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
        body = response.json()  # the Open Inference Protocol's shape: {"error": "<message>"}
        assert set(body) == {"error"} and text in body["error"], body
    other = httpx.post(f"{array_url}/v2/models/other/infer", json={})
    assert other.status_code == 404 and "No model 'other' here" in other.json()["error"]
    assert "No such endpoint" in httpx.get(f"{array_url}/v2/nothing").json()["error"]


# -- load -------------------------------------------------------------------------------------


async def _concurrently(url: str, bodies: list[Any]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        return await asyncio.gather(
            *(client.post(f"{url}/invocations", json=body) for body in bodies)
        )


def test_concurrent_requests_all_succeed_and_share_model_calls(
    project: ServingProject, table_url: str
) -> None:
    rows = project.frame.iloc[:64]
    expected = project.local_predictions("cancer-table@1", rows)
    bodies = [{"dataframe_records": [record]} for record in rows.to_dict(orient="records")]
    shared = False
    for _round in range(5):  # batches form under load; a few rounds make sure they did
        responses = asyncio.run(_concurrently(table_url, bodies))
        assert [r.status_code for r in responses] == [200] * 64
        assert [r.json()["predictions"][0] for r in responses] == expected
        samples = serving_metrics(table_url)["loopml_serving_batch_size"]
        single = next(s.value for s in samples if s.labels.get("le") == "1.0")
        calls = next(s.value for s in samples if s.name.endswith("_count"))
        shared = calls > single  # some model call answered more than one request
        if shared:
            break
    assert shared


def test_metrics_count_requests_by_endpoint_status_and_model_version(
    project: ServingProject, table_url: str
) -> None:
    invocations(table_url, {"dataframe_records": project.frame.iloc[:1].to_dict("records")})
    invocations(table_url, {"dataframe_records": [{"nope": 1}]})
    samples = serving_metrics(table_url)["loopml_serving_requests"]
    counts = {
        (s.labels["endpoint"], s.labels["status"], s.labels["model_version"]): s.value
        for s in samples
        if s.name.endswith("_total")
    }
    assert counts[("/invocations", "200", "cancer-table@1")] >= 1
    assert counts[("/invocations", "422", "")] >= 1
    assert "loopml_serving_request_duration_seconds" in serving_metrics(table_url)
