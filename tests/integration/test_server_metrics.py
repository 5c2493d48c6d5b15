"""``GET /metrics`` of a real platform server (``python -m loopml.server``) on loopback:
requests by route template (never the raw path), method and status class, latency, the
server's failures by error code, and the process's resources."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.backends import free_port
from tests.fixtures.model_server import LOOPML
from tests.fixtures.server import PlatformServer, poll_ok


def samples(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    answer = httpx.get(f"{url}/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_requests_are_counted_by_route_template_method_and_status_class(
    platform_server: PlatformServer,
) -> None:
    url = platform_server.url
    with httpx.Client(base_url=f"{url}/api/v1", timeout=10) as http:
        experiment = http.post("/experiments", json={"name": "metrics"}).json()
        ids = []
        for _ in range(3):
            body = {"experiment_id": experiment["id"], "name": "r", "start_time": 1}
            run = http.post("/runs", json=body)
            assert run.status_code == 201, run.text
            ids.append(run.json()["id"])
        for run_id in ids:
            assert http.get(f"/runs/{run_id}").status_code == 200
        assert http.get("/runs/no-such-run").status_code == 404
        assert http.get("/no/such/route").status_code == 404

    found = samples(url)
    route = "/api/v1/runs/{run_id}"
    assert (
        value(found, "loopml_server_requests_total", route=route, method="GET", status="2xx") == 3
    )
    assert (
        value(found, "loopml_server_requests_total", route=route, method="GET", status="4xx") == 1
    )
    assert (
        value(found, "loopml_server_requests_total", route="unmatched", method="GET", status="4xx")
        == 1
    )
    assert (
        value(found, "loopml_server_request_duration_seconds_count", route=route, method="GET") == 4
    )
    # the raw paths (with their ids) never become label values
    assert not [key for key in found if any(run_id in str(key) for run_id in ids)]
    # 4xx are the caller's mistakes, not the server's failures
    assert not [key for key in found if key[0] == "loopml_server_errors_total"]
    assert value(found, "process_cpu_seconds_total") > 0
    assert value(found, "process_open_fds") > 0


def test_failures_of_a_store_are_counted_by_error_code(
    platform_server: PlatformServer,
) -> None:
    """An artifact store the server cannot write to (its folder replaced by a file: root
    ignores permissions): the upload fails with a 5xx, counted under its route and code."""
    root = platform_server.artifact_root
    shutil.rmtree(root, ignore_errors=True)
    root.write_text("not a folder", encoding="utf-8")
    answer = httpx.put(
        f"{platform_server.url}/api/v1/blobs",
        content=os.urandom(64),
        headers={"content-type": "application/octet-stream"},
        timeout=10,
    )
    assert answer.status_code >= 500, answer.text
    code = answer.json()["error"]["code"]
    found = samples(platform_server.url)
    assert value(found, "loopml_server_errors_total", route="/api/v1/blobs", code=code) == 1


def test_with_workers_the_counts_of_every_process_are_summed(tmp_path: Path) -> None:
    """``loopml server --workers 2``: requests answered by either process are counted once
    each, whichever process answers the scrape (and its metrics folder is gone at exit)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPML_", "PROMETHEUS_"))}
    env["LOOPML_STORE_URI"] = f"sqlite:///{tmp_path / 'loopml.db'}"
    env["LOOPML_ARTIFACT_URI"] = str(tmp_path / "artifacts")
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(LOOPML), "server", "--port", str(port), "--workers", "2"],
            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        assert poll_ok(process, f"{url}/api/v1/health", 90), log_path.read_text()
        requests = 30
        for _ in range(requests):  # a new connection each: either worker may take it
            assert httpx.get(f"{url}/api/v1/experiments/none").status_code == 404
        for _ in range(4):
            found = samples(url)
            route = "/api/v1/experiments/{experiment_id}"
            key = ("loopml_server_requests_total", route, "GET", "4xx")
            assert value(found, key[0], route=key[1], method=key[2], status=key[3]) == requests
    finally:
        process.terminate()
        process.wait(30)
    assert list((tmp_path / "tmp").iterdir()) == []  # the metrics folder is removed
