"""``loopml serve --token-file``: every route of the model server's OpenAPI document refuses a
request without the token, or with a wrong one (401 in the protocol's error shape), except
the probes and metrics; with the token every route answers as usual. Beyond loopback without
a token the server refuses to start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loopml.serving.token_auth import OPEN_PATHS
from tests.e2e.runner import cli
from tests.fixtures.model_server import ModelServer, start_model_server, wait_until_serving
from tests.fixtures.serving_project import ARRAY, ServingProject, registered_models

TOKEN = "s3rve-t0ken-" + "x" * 20


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingProject]:
    with registered_models(tmp_path_factory.mktemp("serving-token")) as built:
        yield built


@pytest.fixture(scope="module")
def server(project: ServingProject) -> Iterator[ModelServer]:
    token_file = project.folder / "serve-token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    started = start_model_server(
        project.folder, f"{ARRAY}@champion", "--token-file", str(token_file), "--no-drift"
    )
    try:
        yield wait_until_serving(started)  # /health is open: the probe needs no token
    finally:
        started.stop()


def _operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    operations = []
    for template, methods in document["paths"].items():
        path = template.replace("{name}", ARRAY).replace("{version}", "1")
        operations.extend((method.upper(), path) for method in methods)
    return operations


def _refused(answer: httpx.Response, path: str) -> None:
    assert answer.status_code == 401, (path, answer.status_code, answer.text)
    assert answer.headers["x-loopml-error-code"] == "unauthenticated"
    assert answer.headers["www-authenticate"].startswith("Bearer")
    body = answer.json()
    if path == "/invocations":  # MLflow's shape
        assert body["error_code"] == "UNAUTHENTICATED" and "token" in body["message"]
    elif path.startswith("/v2"):  # the Open Inference Protocol's
        assert isinstance(body["error"], str) and "token" in body["error"]
    else:  # loopml's own
        assert body["error"]["code"] == "unauthenticated"
    assert TOKEN not in answer.text


def test_every_route_needs_the_token_but_the_probes_and_metrics(
    server: ModelServer, project: ServingProject
) -> None:
    good = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=server.url, timeout=30.0) as http:
        _refused(http.get("/openapi.json"), "/openapi.json")
        document = http.get("/openapi.json", headers=good).json()
        operations = _operations(document)
        assert ("POST", "/invocations") in operations and ("POST", "/feedback") in operations
        assert len(operations) >= 15
        body = {"inputs": project.x[:1].tolist()}
        for method, path in operations:
            kwargs: dict[str, Any] = {"json": body} if method == "POST" else {}
            plain = http.request(method, path, **kwargs)
            if path in OPEN_PATHS:
                assert plain.status_code != 401, (method, path, plain.text)
                continue
            _refused(plain, path)
            for wrong in (f"Bearer {TOKEN}x", f"Basic {TOKEN}", "Bearer", TOKEN):
                _refused(http.request(method, path, headers={"Authorization": wrong}), path)
            allowed = http.request(method, path, headers=good, **kwargs)
            assert allowed.status_code != 401, (method, path, allowed.text)
        # a route no document lists is closed too (closed by default)
        _refused(http.get("/no-such-route"), "/no-such-route")
        scheme_case = {"Authorization": f"bearer {TOKEN}"}
        answer = http.post("/invocations", json=body, headers=scheme_case)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == project.local_predictions(
            f"{ARRAY}@champion", project.x[:1]
        )
    assert TOKEN not in server.log()


def test_beyond_loopback_without_a_token_it_refuses_to_start(tmp_path: Path) -> None:
    result = cli("serve", "nothing@champion", "--host", "0.0.0.0", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "without a token" in result.stderr and "--allow-anonymous" in result.stderr
    short = tmp_path / "short"
    short.write_text("abc", encoding="utf-8")
    result = cli("serve", "nothing@champion", "--token-file", str(short), cwd=tmp_path)
    assert result.returncode == 2 and "at least 16" in result.stderr
