"""``loopml serve`` as a real process over loopback, serving what is not a plain registered
model: the ONNX variant, a bundle folder (and one whose files were changed), a model whose alias
is set only later, and an alias moved under traffic without a failed request; a model that
does not exist ends the command with exit code 2."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

import loopml.models
from tests.fixtures.model_server import (
    LOOPML,
    ModelServer,
    start_model_server,
    wait_for,
    wait_until_live,
    wait_until_serving,
)
from tests.fixtures.model_server_requests import invocations
from tests.fixtures.serving_project import ServingProject, registered_models


def _classifier() -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingProject]:
    """The array and table models, plus an array model with an ONNX variant, a model whose
    alias is not set yet, and one with two versions to swap between."""
    with registered_models(tmp_path_factory.mktemp("serving")) as project:
        x, y, client = project.x, load_breast_cancer(return_X_y=True)[1], project.client
        register = loopml.models.register
        onnx = register(
            "cancer-onnx", _classifier().fit(x, y), input_example=x[:5], onnx=True, client=client
        )
        register("later", _classifier().fit(x, y), input_example=x[:5], client=client)
        swap = register("swap", _classifier().fit(x, y), input_example=x[:5], client=client)
        register("swap", _classifier().fit(x, 1 - y), input_example=x[:5], client=client)
        for version in (onnx, swap):
            loopml.models.set_alias(version.model, "champion", version.version, client=client)
        yield project


@pytest.fixture(scope="module")
def servers(project: ServingProject) -> Iterator[dict[str, ModelServer]]:
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


def test_the_onnx_variant_is_served_and_predicts_like_the_native_model(
    project: ServingProject, servers: dict[str, ModelServer]
) -> None:
    url = wait_until_serving(servers["onnx"]).url
    version = httpx.get(f"{url}/version").json()
    assert (version["model_version"], version["variant"]) == ("cancer-onnx@1", "onnx")
    assert httpx.get(f"{url}/v2/models/cancer-onnx").json()["platform"] == "onnxruntime"
    rows = project.x[:50]
    response = invocations(url, {"inputs": rows.tolist()})
    assert response.json()["predictions"] == project.local_predictions("cancer-onnx@1", rows)


def test_a_bundle_folder_is_served_without_a_store(
    project: ServingProject, servers: dict[str, ModelServer]
) -> None:
    url = wait_until_serving(servers["bundle"]).url
    rows = project.frame.iloc[:5]
    body = {"dataframe_records": rows.to_dict(orient="records")}
    response = invocations(url, body)
    assert response.status_code == 200, response.text
    assert response.json()["model_version"] == "cancer-table@1"
    assert response.json()["predictions"] == project.local_predictions("cancer-table@1", rows)
    assert "bundle" in httpx.get(f"{url}/version").json()["source"]


def test_a_bundle_whose_model_files_were_changed_is_never_served(
    project: ServingProject, servers: dict[str, ModelServer]
) -> None:
    url = wait_until_live(servers["tampered"]).url

    def refused_for_its_digest() -> bool:
        response = httpx.get(f"{url}/health")
        return response.status_code == 503 and "do not match the digest" in response.text

    assert wait_for(refused_for_its_digest)
    refused = invocations(url, {"inputs": project.x[:1].tolist()})
    assert refused.status_code == 503 and "do not match the digest" in refused.text


def test_health_is_503_until_the_alias_is_set_and_the_model_loaded_then_200(
    project: ServingProject, servers: dict[str, ModelServer]
) -> None:
    url = wait_until_live(servers["later"]).url
    for path in ("/health", "/ping", "/v2/health/ready", "/v2/models/later/ready"):
        assert httpx.get(f"{url}{path}").status_code == 503, path
    refused = invocations(url, {"inputs": project.x[:1].tolist()})
    assert refused.status_code == 503 and refused.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert refused.headers["x-loopml-error-code"] == "model_not_ready"
    assert httpx.head(f"{url}/ping").status_code == 503
    assert httpx.get(f"{url}/v2/health/live").status_code == 200

    loopml.models.set_alias("later", "champion", 1, client=project.client)
    assert wait_for(lambda: httpx.get(f"{url}/health").status_code == 200)
    assert httpx.get(f"{url}/health").json()["model_version"] == "later@1"
    assert httpx.get(f"{url}/v2/health/ready").json() == {"ready": True}
    assert httpx.head(f"{url}/ping").status_code == 200
    assert invocations(url, {"inputs": project.x[:1].tolist()}).status_code == 200


def test_moving_the_alias_swaps_the_version_under_traffic_without_a_failed_request(
    project: ServingProject, servers: dict[str, ModelServer]
) -> None:
    url = wait_until_serving(servers["swap"]).url
    rows = project.x[:5]
    body = {"inputs": rows.tolist()}
    expected = {
        "swap@1": project.local_predictions("swap@1", rows),
        "swap@2": project.local_predictions("swap@2", rows),
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


def test_serving_a_model_that_does_not_exist_exits_2_naming_it(project: ServingProject) -> None:
    result = subprocess.run(
        [str(LOOPML), "serve", "no-such-model@champion", "--port", "0"],
        cwd=project.folder,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no-such-model" in result.stderr
