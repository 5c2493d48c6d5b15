"""``loopml loop log`` and ``loopml loop policy`` as a user runs them: decisions recorded
through ``Client.loop`` listed from an embedded project and through a real ``loopml server``;
the policy shown as read, and a malformed one refused with exit 2 at its line and column."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from loopml.core.config import init_project
from loopml.core.ids import new_id
from loopml.core.loop_records import DecisionState, DecisionUpdate, NewDecision, TriggerKind
from loopml.tracking.client import Client
from tests.e2e.runner import cli
from tests.fixtures.server import PlatformServer

S = DecisionState
POLICY = """\
pipelines:
  train-churn: churn_pipeline:train
retraining:
  - model: churn@champion
    pipeline: train-churn
    triggers:
      drift: {drift_share: 0.3, window: 1h}
    promotion: auto
    rollback_guard: {metric: accuracy, margin: 0.02, watch: 1h}
"""


def expect(result: subprocess.CompletedProcess[str], code: int = 0) -> str:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _record_history(client: Client) -> list[str]:
    """A promoted drift retraining, then a failed decay one; their ids, oldest first."""
    loop = client.loop
    drift = loop.record_decision(
        NewDecision(
            "retrain:churn@champion:drift:1",
            "churn",
            "champion",
            TriggerKind.DRIFT,
            {"signal": "drift_share", "value": 0.42, "threshold": 0.3, "samples": 1200},
            champion_version=3,
        )
    )
    for step in (
        DecisionUpdate(S.TRIGGERED, S.TRAINING, pipeline_run_id=new_id()),
        DecisionUpdate(S.TRAINING, S.TRAINED, candidate_version=4),
        DecisionUpdate(S.TRAINED, S.GATED, gate_result_id=new_id()),
        DecisionUpdate(S.GATED, S.PROMOTED, action="promoted churn@4 to champion"),
    ):
        loop.advance_decision(drift.id, step)
    decay = loop.record_decision(
        NewDecision(
            "retrain:churn@champion:decay:2",
            "churn",
            "champion",
            TriggerKind.DECAY,
            {"metric": "accuracy", "value": 0.71, "below": 0.8, "samples": 300},
        )
    )
    loop.advance_decision(decay.id, DecisionUpdate(S.TRIGGERED, S.FAILED, error="no data"))
    return [drift.id, decay.id]


def _check_log(folder: Path, env: dict[str, str] | None, ids: list[str], *, full: bool) -> None:
    table = expect(cli("loop", "log", cwd=folder, env=env))
    assert "drift_share 0.42 >= 0.3 (1200 samples)" in table
    assert "promoted churn@4 to champion" in table and "no data" in table
    listed = json.loads(expect(cli("loop", "log", "--json", cwd=folder, env=env)))
    assert [d["id"] for d in listed] == ids[::-1]
    assert listed[1]["candidate_version"] == 4 and listed[1]["state"] == "promoted"
    assert listed[1]["evidence"]["value"] == 0.42
    if not full:  # the filters are the store's, checked by the contract suite on every backend
        return
    promoted = json.loads(
        expect(cli("loop", "log", "--state", "promoted", "--json", cwd=folder, env=env))
    )
    assert [d["id"] for d in promoted] == [ids[0]]
    newest = json.loads(expect(cli("loop", "log", "-n", "1", "--json", cwd=folder, env=env)))
    assert [d["id"] for d in newest] == [ids[1]]
    other = expect(cli("loop", "log", "--model", "fraud", cwd=folder, env=env))
    assert "No decision matches." in other
    bad = cli("loop", "log", "--state", "dreaming", cwd=folder, env=env)
    assert bad.returncode == 2


def test_loop_log_lists_decisions_of_an_embedded_project(tmp_path: Path) -> None:
    config = init_project(tmp_path)
    with Client(config=config, create=False) as client:
        ids = _record_history(client)
    _check_log(tmp_path, None, ids, full=True)


def test_loop_log_lists_decisions_through_a_server(
    platform_server: PlatformServer, tmp_path: Path
) -> None:
    with Client(server_url=platform_server.url) as client:
        ids = _record_history(client)
    _check_log(tmp_path, {"LOOPML_SERVER_URL": platform_server.url}, ids, full=False)


def test_loop_policy_shows_the_policy_and_refuses_a_malformed_one(tmp_path: Path) -> None:
    (tmp_path / "loopml.yaml").write_text(POLICY, encoding="utf-8")
    shown = json.loads(expect(cli("loop", "policy", "--json", cwd=tmp_path)))
    (entry,) = shown["retraining"]
    assert entry["model"] == "churn@champion" and entry["promotion"] == "auto"
    assert entry["triggers"] == {
        "drift": {
            "window_ms": 3_600_000,
            "drift_share": 0.3,
            "prediction_drift": None,
            "min_samples": 100,
        }
    }
    assert entry["rollback_guard"]["margin"] == 0.02
    text = expect(cli("loop", "policy", cwd=tmp_path))
    assert "churn@champion" in text and "pipeline: train-churn" in text
    (tmp_path / "loopml.yaml").write_text(
        POLICY.replace("promotion: auto", "promotion: yolo"), encoding="utf-8"
    )
    bad = cli("loop", "policy", cwd=tmp_path)
    assert bad.returncode == 2, bad.stderr
    assert "loopml.yaml:8:16: retraining[0].promotion: expected auto or approval" in bad.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "the loop retrains nothing" in expect(cli("loop", "policy", cwd=empty))
