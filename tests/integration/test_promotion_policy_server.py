"""The platform server holds moves of ``champion`` to its promotion policy: a raw HTTP client
that does not satisfy it gets 409 naming what is missing; the library's promote and rollback
through a remote store (what the loop agent runs) work under it; a forced move needs a
reason; a rollback to a version that was champion before needs neither gate nor approval."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loopml.core.entities import ModelVersion
from loopml.core.errors import PromotionBlockedError
from loopml.core.ids import new_id
from loopml.core.loop_records import DecisionState, NewDecision, TriggerKind
from loopml.loop.agent_actions import AgentContext
from loopml.loop.agent_guard import resume_rollback
from loopml.models.gate_policy import read_policy
from loopml.models.promotion import promote
from loopml.models.registry import rollback, set_alias
from loopml.tracking.client import Client
from tests.fixtures.server import (
    PlatformServer,
    PlatformServerPool,
    start_platform_server,
    wait_until_ready,
)

POLICY = """\
evaluation: {dataset: churn_holdout, target: churned}
promotion: {require_gate: true, require_approval: true}
"""
MODEL = "churn"
CHAMPION = f"/api/v1/models/{MODEL}/aliases/champion"


@pytest.fixture(scope="module")
def policy_server(
    platform_server_pool: PlatformServerPool, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[PlatformServer, Path]]:
    """A server over a fresh store, started with ``LOOPML_SERVER_POLICY`` naming POLICY."""
    folder = tmp_path_factory.mktemp("policy-server")
    policy = folder / "gates.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    server = start_platform_server(
        folder / "server",
        template_db=platform_server_pool.template_db,
        env={"LOOPML_SERVER_POLICY": str(policy)},
    )
    try:
        assert wait_until_ready(server), server.log()
        yield server, policy
    finally:
        server.stop()


@pytest.fixture
def remote(
    policy_server: tuple[PlatformServer, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Client]:
    monkeypatch.chdir(tmp_path)  # no project here: the library brings no policy of its own
    client = Client(server_url=policy_server[0].url, create=False)
    yield client
    client.close()


def _register(client: Client, model: str, count: int) -> None:
    for _ in range(count):
        client.metadata.add_model_version(
            ModelVersion(model, 0, "sklearn", "blake3:" + "ab" * 32, 1)
        )


def _gate_and_approve(
    http: httpx.Client, model: str, version: int, digest: str, *, approve: bool = True
) -> None:
    gate = {
        "id": new_id(),
        "passed": True,
        "checks": [{"check": "metric", "name": "auc", "passed": True}],
        "policy": {},
        "policy_digest": digest,
        "evaluated_at": 1,
    }
    url = f"/api/v1/models/{model}/versions/{version}"
    assert http.post(f"{url}/gate-results", json=gate).is_success
    if approve:
        assert http.post(f"{url}/approvals", json={}).is_success


def _error(answer: httpx.Response, status: int, code: str) -> str:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code
    return str(error["message"])


def _champion(http: httpx.Client) -> int | None:
    answer = http.get(CHAMPION)
    return int(answer.json()["version"]) if answer.status_code == 200 else None


def test_a_move_the_policy_does_not_allow_is_refused_and_allowed_ones_go_through(
    policy_server: tuple[PlatformServer, Path], remote: Client
) -> None:
    server, policy_file = policy_server
    digest = read_policy(policy_file).digest
    _register(remote, MODEL, 3)
    with httpx.Client(base_url=server.url, timeout=30.0) as http:
        # a raw client: no gate, no approval → 409 naming both, nothing moved
        message = _error(http.put(CHAMPION, json={"version": 1}), 409, "promotion_blocked")
        assert "no gate under" in message and "needs an approval" in message
        assert _champion(http) is None
        # another alias is not protected
        staging = http.put(f"/api/v1/models/{MODEL}/aliases/staging", json={"version": 3})
        assert staging.status_code == 200, staging.text
        # forced: needs a reason, then moves, recorded as forced
        forced = {"version": 1, "force": True}
        assert "reason" in _error(http.put(CHAMPION, json=forced), 400, "invalid_input")
        moved = http.put(CHAMPION, json={**forced, "reason": "first model, no holdout yet"})
        assert moved.status_code == 200, moved.text
        assert moved.json()["reason"] == "forced: first model, no holdout yet"

        # the library through the remote store: the server's policy holds it too
        with pytest.raises(PromotionBlockedError, match="server's promotion policy"):
            promote(f"{MODEL}@2", client=remote)
        gate = {
            "id": new_id(),
            "passed": True,
            "checks": [{"check": "metric", "name": "auc", "passed": True}],
            "policy": {},
            "policy_digest": digest,
            "evaluated_at": 1,
        }
        assert http.post(f"/api/v1/models/{MODEL}/versions/2/gate-results", json=gate).is_success
        with pytest.raises(PromotionBlockedError, match="needs an approval") as blocked:
            promote(f"{MODEL}@2", client=remote)
        assert "no gate" not in str(blocked.value)
        assert http.post(f"/api/v1/models/{MODEL}/versions/2/approvals", json={}).is_success
        assert promote(f"{MODEL}@2", client=remote).to_version == 2

        # a rollback (as the agent's guard and `loopml models rollback` do) to the forced
        # version 1 needs neither gate nor approval: it was champion before
        assert rollback(MODEL, client=remote).to_version == 1
        # forward again to a version that never was champion: held to the policy
        with pytest.raises(PromotionBlockedError):
            set_alias(MODEL, "champion", 3, reason="loopml agent", client=remote)
        change = promote(f"{MODEL}@3", force=True, reason="hotfix", client=remote)
        assert (change.to_version, change.reason) == (3, "forced: hotfix")
        guard = set_alias(
            MODEL, "champion", 1, reason="loopml agent: rollback guard", client=remote
        )
        assert guard.to_version == 1
        assert _champion(http) == 1


def test_the_agent_rollback_guard_moves_champion_back_under_the_policy(
    policy_server: tuple[PlatformServer, Path], remote: Client, tmp_path: Path
) -> None:
    server, policy_file = policy_server
    model = "churn-guard"
    _register(remote, model, 2)
    with httpx.Client(base_url=server.url, timeout=30.0) as http:
        first = {"version": 1, "force": True, "reason": "first model"}
        assert http.put(f"/api/v1/models/{model}/aliases/champion", json=first).is_success
        _gate_and_approve(http, model, 2, read_policy(policy_file).digest)
    assert promote(f"{model}@2", client=remote).to_version == 2
    # the guard found version 2 worse than 1: it records the decision, then moves back
    decision = remote.loop.record_decision(
        NewDecision(
            key=f"rollback:{model}@champion:2",
            model=model,
            alias="champion",
            trigger=TriggerKind.ROLLBACK_GUARD,
            evidence={"version": 2, "previous_version": 1, "reason": "accuracy fell"},
            champion_version=2,
        )
    )
    agent = AgentContext(client=remote, project=tmp_path, lease=None, holder="test")
    rolled = resume_rollback(agent, decision)
    assert rolled.state is DecisionState.ROLLED_BACK, rolled
    assert remote.metadata.get_model_alias(model, "champion") == 1


def test_promote_with_wait_waits_for_what_the_servers_policy_asks(
    policy_server: tuple[PlatformServer, Path], remote: Client
) -> None:
    server, policy_file = policy_server
    model = "churn-wait"
    _register(remote, model, 1)
    with httpx.Client(base_url=server.url, timeout=30.0) as http:
        _gate_and_approve(http, model, 1, read_policy(policy_file).digest, approve=False)

        def approve() -> None:  # a reviewer approves while promote waits
            http.post(f"/api/v1/models/{model}/versions/1/approvals", json={})

        reviewer = threading.Timer(1.0, approve)
        reviewer.start()
        try:
            assert promote(f"{model}@1", wait=120, client=remote).to_version == 1
        finally:
            reviewer.join()
