"""``loopml alerts list|test`` as a user runs them: rules checked and listed, a malformed one
refused with exit 2 at its line and column, and a test firing reaching a real receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.runner import cli
from tests.fixtures.webhook_receiver import Reply, WebhookReceiver, running_webhook_receiver

SECRET = "cli-secret-5b1e"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with running_webhook_receiver() as running:
        yield running


def _project(folder: Path, url: str) -> Path:
    (folder / "loopml.yaml").write_text(
        f"""\
alerts:
  drift-high:
    model: churn@champion
    signal: drift_share
    condition: "> 0.3"
    window: 1h
    severity: critical
    actions:
      - webhook: {{url: "{url}", secret_env: ALERT_SECRET, timeout: 2s, retries: 0}}
      - log
  slow:
    model: churn
    signal: latency_p95_ms
    condition: ">= 250"
    window: 15m
""",
        encoding="utf-8",
    )
    return folder


def test_alerts_list_shows_the_checked_rules(tmp_path: Path) -> None:
    project = _project(tmp_path, "https://hooks.example.com/ml?token=abc")
    listed = cli("alerts", "list", "--json", cwd=project)
    assert listed.returncode == 0, listed.stderr
    rules = json.loads(listed.stdout)
    assert [(r["name"], r["condition"], r["window"], r["cooldown"]) for r in rules] == [
        ("drift-high", "> 0.3", "1h", "1h"),
        ("slow", ">= 250", "15m", "15m"),
    ]
    assert rules[0]["actions"][0]["url"] == "https://hooks.example.com/ml?token=***"
    table = cli("alerts", "list", cwd=project)
    assert table.returncode == 0 and "drift-high" in table.stdout and "abc" not in table.stdout


def test_a_malformed_rule_exits_2_naming_its_line_column_and_field(tmp_path: Path) -> None:
    project = _project(tmp_path, "https://hooks.example.com/ml")
    text = (project / "loopml.yaml").read_text().replace("signal: latency_p95_ms", "signal: p95")
    (project / "loopml.yaml").write_text(text)
    refused = cli("alerts", "list", cwd=project)
    assert refused.returncode == 2
    assert "loopml.yaml:13:13: alerts.slow.signal: unknown signal 'p95'" in refused.stderr
    as_json = cli("alerts", "list", "--json", cwd=project)
    assert (
        as_json.returncode == 2 and json.loads(as_json.stdout)["error"]["code"] == "invalid_input"
    )


def test_alerts_test_fires_the_rules_actions_once_marked_as_a_test(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    project = _project(tmp_path, receiver.url)
    fired = cli(
        "alerts", "test", "drift-high", "--value", "0.45", "--json",
        cwd=project, env={"ALERT_SECRET": SECRET},
    )  # fmt: skip
    assert fired.returncode == 0, fired.stdout + fired.stderr
    report = json.loads(fired.stdout)
    assert [(a["action"], a["ok"]) for a in report["actions"]] == [("webhook", True), ("log", True)]
    (request,) = receiver.received
    body = json.loads(request.body)
    assert body["test"] is True and body["value"] == 0.45 and body["rule"] == "drift-high"
    assert body["delivery_id"] == report["firing"]["delivery_id"]
    signed = request.headers["x-loopml-timestamp"].encode() + b"." + request.body
    expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert request.headers["x-loopml-signature"] == f"sha256={expected}"
    assert "CRITICAL loopml.alerts: alert drift-high (test) fired" in fired.stderr
    assert SECRET not in fired.stdout + fired.stderr


def test_alerts_test_exits_1_when_an_action_fails_and_2_without_its_secret(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    project = _project(tmp_path, receiver.url)
    receiver.script(Reply(500))
    failed = cli("alerts", "test", "drift-high", cwd=project, env={"ALERT_SECRET": SECRET})
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "FAILED webhook" in failed.stdout and "HTTP 500" in failed.stdout
    missing = cli("alerts", "test", "drift-high", cwd=project)
    assert missing.returncode == 2
    assert "environment variable ALERT_SECRET, which is not set" in missing.stderr
    unknown = cli("alerts", "test", "drift-hig", cwd=project)
    assert unknown.returncode == 2 and "Did you mean 'drift-high'?" in unknown.stderr
    assert len(receiver.received) == 1  # neither refused command sent anything


def test_help_on_the_alerts_commands_teaches_with_an_example(tmp_path: Path) -> None:
    for command in (["list"], ["test"]):
        shown = cli("alerts", *command, "--help", cwd=tmp_path)
        assert shown.returncode == 0 and "Usage: loopml alerts" in shown.stdout, shown.stderr
        assert f"loopml alerts {command[0]}" in shown.stdout.split("Examples:", 1)[1]
