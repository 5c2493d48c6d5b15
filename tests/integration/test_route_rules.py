"""A raw HTTP client is held to the rules the library's capability functions follow: each
mutating route runs the same rule as the library (docs/architecture.md, "Routes over
capability rules"), so a client that skips the library cannot store what it would refuse."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from loopml.core.ids import new_id
from loopml.core.roles import Role
from loopml.stores.identity.sql import SqlIdentityStore
from tests.fixtures.server import PlatformServer, start_platform_server, wait_until_ready

MODEL = "churn"
VERSION = f"/api/v1/models/{MODEL}/versions/1"


@pytest.fixture
def http(platform_server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform_server_url, timeout=30.0) as client:
        registered = client.post(
            f"/api/v1/models/{MODEL}/versions",
            json={"flavor": "sklearn", "tree_digest": "blake3:" + "ab" * 32, "created_at": 1},
        )
        assert registered.status_code == 201, registered.text
        yield client


def _gate(passed: bool, *checks: dict[str, object]) -> dict[str, object]:
    return {
        "id": new_id(),
        "passed": passed,
        "checks": list(checks),
        "policy": {},
        "policy_digest": "sha256:" + "cd" * 32,
        "evaluated_at": 1,
    }


def _refused(answer: httpx.Response, *words: str) -> None:
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_input"
    assert all(word in error["message"] for word in words), error["message"]


def test_a_gate_result_cannot_pass_over_a_failed_check(http: httpx.Client) -> None:
    failed = {"check": "metric", "name": "auc", "passed": False}
    forged = http.post(f"{VERSION}/gate-results", json=_gate(True, failed))
    _refused(forged, "passed flag", "what its checks say")
    kept = http.post(f"{VERSION}/gate-results", json=_gate(False, failed))
    assert kept.status_code == 201, kept.text
    assert [r["passed"] for r in http.get(f"{VERSION}/gate-results").json()["items"]] == [False]


@pytest.mark.parametrize(
    "check",
    [{"check": "metric", "passed": False}, {"check": "metric", "name": "auc", "passed": "no"}],
    ids=["no-name", "passed-not-a-bool"],
)
def test_every_check_of_a_gate_result_names_itself_and_its_outcome(
    http: httpx.Client, check: dict[str, object]
) -> None:
    _refused(http.post(f"{VERSION}/gate-results", json=_gate(False, check)), "checks[0]")
    assert http.get(f"{VERSION}/gate-results").json()["items"] == []


@pytest.fixture(scope="module")
def editor_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A server with auth on and one editor, ``ed``: its URL and ed's token."""
    folder = tmp_path_factory.mktemp("route-rules-auth")
    identity = SqlIdentityStore(f"sqlite:///{folder / 'loopml.db'}")
    try:
        identity.add_user("ed")
        identity.grant_role("ed", "default", Role.EDITOR)
        token = identity.create_token("ed").secret
    finally:
        identity.close()
    server: PlatformServer = start_platform_server(folder, env={"LOOPML_AUTH": "1"})
    try:
        assert wait_until_ready(server), server.log()
        yield server.url, token
    finally:
        server.stop()


def test_the_registrant_of_a_version_is_the_caller_the_server_authenticated(
    editor_server: tuple[str, str],
) -> None:
    url, token = editor_server
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30.0) as http:
        claimed = {
            "flavor": "sklearn",
            "tree_digest": "blake3:" + "ab" * 32,
            "created_at": 1,
            "created_by": "the-cfo",
        }
        added = http.post(f"/api/v1/models/{MODEL}/versions", json=claimed)
        assert added.status_code == 201, added.text
        assert added.json()["created_by"] == "ed"
        assert http.get(f"{VERSION}").json()["created_by"] == "ed"
