"""Alert actions against real things: a webhook receiver on 127.0.0.1 (signature, timestamp,
retries after 503 with Retry-After, no retry on 400, a receiver too slow to answer), the log
line, and a real pipeline run in a project."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from loopml.core.config import init_project
from loopml.core.errors import ConfigError
from loopml.loop.alert_actions import (
    ALERT_DELIVERY_TAG,
    ALERT_RULE_TAG,
    ALERT_TEST_TAG,
    fire,
    log_firing,
    send_webhook,
)
from loopml.loop.alert_rules import (
    AlertRule,
    Condition,
    LogAction,
    PipelineAction,
    WebhookAction,
    read_alert_rules,
)
from loopml.loop.alerts import Firing, synthetic_firing
from loopml.pipelines.runner import PARAMS_TAG, REF_TAG
from loopml.tracking.client import Client
from tests.fixtures.webhook_receiver import Reply, WebhookReceiver, running_webhook_receiver

SECRET = "whsec-test-7f3a9c"  # what the receiver and the sender share
ENV = {"ALERT_SECRET": SECRET}


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with running_webhook_receiver() as running:
        yield running


def _firing(action: WebhookAction) -> Firing:
    rule = AlertRule(
        "drift-high",
        "churn@champion",
        "drift_share",
        Condition(">", 0.3),
        window_ms=3_600_000,
        cooldown_ms=3_600_000,
        severity="critical",
        actions=(action,),
    )
    return synthetic_firing(rule, now_ms=1_700_000_000_000, value=0.42)


def _verified(headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does, written here apart from loopml's code."""
    timestamp = headers["x-loopml-timestamp"]
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    given = headers["x-loopml-signature"].removeprefix("sha256=")
    fresh = abs(time.time() - int(timestamp)) < 300
    return hmac.compare_digest(expected.hexdigest(), given) and fresh


def test_a_webhook_is_a_signed_json_post_the_receiver_can_verify(receiver: WebhookReceiver) -> None:
    action = WebhookAction(receiver.url, secret_env="ALERT_SECRET")
    firing = _firing(action)
    outcome = send_webhook(action, firing, environ=ENV)
    assert outcome.ok and outcome.attempts == 1, outcome
    (request,) = receiver.received
    assert request.path == "/hooks/ml"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-loopml-signature"].startswith("sha256=")
    assert _verified(request.headers, request.body)
    body = json.loads(request.body)
    assert body["delivery_id"] == request.headers["x-loopml-delivery"] == firing.delivery_id
    assert {k: body[k] for k in ("rule", "model", "signal", "value", "threshold", "severity")} == {
        "rule": "drift-high",
        "model": "churn@champion",
        "signal": "drift_share",
        "value": 0.42,
        "threshold": 0.3,
        "severity": "critical",
    }
    assert body["test"] is True and body["window"]["length"] == "1h" and body["fired_at"]
    # a tampered body, or the right body under another timestamp, does not verify
    assert not _verified(request.headers, request.body.replace(b"0.42", b"0.01"))
    moved = {
        **request.headers,
        "x-loopml-timestamp": str(int(request.headers["x-loopml-timestamp"]) - 1),
    }
    assert not _verified(moved, request.body)


def test_a_webhook_is_retried_after_503_honouring_retry_after(receiver: WebhookReceiver) -> None:
    receiver.script(Reply(503, retry_after="2"), Reply(503), Reply(200))
    slept: list[float] = []
    action = WebhookAction(receiver.url, secret_env="ALERT_SECRET", retries=3)
    outcome = send_webhook(action, _firing(action), environ=ENV, sleep=slept.append)
    assert outcome.ok and outcome.attempts == 3, outcome
    assert len(receiver.received) == 3
    assert slept[0] == 2.0  # what Retry-After asked for
    assert 0.5 <= slept[1] <= 1.0  # the second backoff step (1 s), jittered down by up to half
    assert len({r.headers["x-loopml-delivery"] for r in receiver.received}) == 1
    assert all(_verified(r.headers, r.body) for r in receiver.received)


def test_a_webhook_gives_up_after_its_retries(receiver: WebhookReceiver) -> None:
    receiver.script(*[Reply(502)] * 5)
    action = WebhookAction(receiver.url, retries=2)
    outcome = send_webhook(action, _firing(action), sleep=lambda _: None)
    assert not outcome.ok and outcome.attempts == 3
    assert outcome.detail.endswith("HTTP 502 after 3 attempts")
    assert len(receiver.received) == 3 and "x-loopml-signature" not in receiver.received[0].headers


def test_a_retry_after_longer_than_the_budget_ends_the_retries(receiver: WebhookReceiver) -> None:
    receiver.script(Reply(429, retry_after="120"))
    action = WebhookAction(receiver.url, retries=3, budget_ms=10_000)
    outcome = send_webhook(action, _firing(action), sleep=lambda _: None)
    assert not outcome.ok and "the retry budget of 10s is spent" in outcome.detail
    assert len(receiver.received) == 1


def test_a_webhook_refused_with_400_is_not_retried(receiver: WebhookReceiver) -> None:
    receiver.script(Reply(400), Reply(200))
    action = WebhookAction(receiver.url, retries=3)
    outcome = send_webhook(action, _firing(action), sleep=lambda _: None)
    assert not outcome.ok and outcome.attempts == 1 and "HTTP 400 (not retried" in outcome.detail
    assert len(receiver.received) == 1


def test_a_receiver_slower_than_the_timeout_is_an_attempt_that_failed(
    receiver: WebhookReceiver,
) -> None:
    receiver.script(Reply(200, delay_s=30), Reply(200, delay_s=30))
    action = WebhookAction(receiver.url, timeout_ms=300, retries=1)
    outcome = send_webhook(action, _firing(action), sleep=lambda _: None)
    assert not outcome.ok and outcome.attempts == 2
    assert "no answer within 0.3 s after 2 attempts" in outcome.detail
    assert len(receiver.received) == 2


def test_a_missing_secret_names_its_variable_and_sends_nothing(receiver: WebhookReceiver) -> None:
    action = WebhookAction(receiver.url, secret_env="ALERT_SECRET")
    with pytest.raises(ConfigError, match="environment variable ALERT_SECRET, which is not set"):
        send_webhook(action, _firing(action), environ={})
    outcomes = fire(_firing(action), project=Path("."), environ={"ALERT_SECRET": ""})
    assert [(o.action, o.ok, o.attempts) for o in outcomes] == [("webhook", False, 0)]
    assert receiver.received == []


def test_the_log_action_logs_one_line_at_the_rules_severity_without_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    action = WebhookAction("https://hooks.example.com/ml?token=abc", secret_env="ALERT_SECRET")
    firing = _firing(action)
    with caplog.at_level(logging.INFO, logger="loopml.alerts"):
        outcome = log_firing(firing)
    assert outcome.ok
    (record,) = caplog.records
    assert record.name == "loopml.alerts" and record.levelno == logging.CRITICAL
    message = record.getMessage()
    assert message.startswith("alert drift-high (test) fired: drift_share of churn@champion is")
    assert firing.delivery_id in message and "abc" not in message and SECRET not in message
    assert record.loopml_alert["value"] == 0.42  # type: ignore[attr-defined]


def test_each_action_runs_whatever_the_others_did(receiver: WebhookReceiver) -> None:
    receiver.script(Reply(400))
    webhook = WebhookAction(receiver.url)
    rule = replace(
        _firing(webhook).rule, actions=(webhook, PipelineAction("training"), LogAction())
    )
    firing = synthetic_firing(rule, now_ms=1_700_000_000_000)
    outcomes = fire(firing, project=Path("."))
    assert [(o.action, o.ok) for o in outcomes] == [
        ("webhook", False), ("pipeline", False), ("log", True),
    ]  # fmt: skip
    assert "no client was given" in outcomes[1].detail
    only_log = fire(firing, project=Path("."), kinds={"log"})
    assert [o.action for o in only_log] == ["log"] and len(receiver.received) == 1


FLOWS = """
import loopml


@loopml.step
def total(*, rows: int = 3) -> int:
    return sum(range(rows))


@loopml.pipeline
def train(rows: int = 3, label: str = "none") -> int:
    return total(rows=rows)
"""

PROJECT_FILE = """\
pipelines:
  training:
    ref: alert_flows:train
    params: {rows: 4, label: nightly}
alerts:
  retrain-on-drift:
    model: churn@champion
    signal: drift_share
    condition: ">= 0.5"
    window: 1h
    actions:
      - pipeline: {name: training, params: {rows: 6}}
"""


def test_the_pipeline_action_runs_the_named_pipeline_in_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # the project is put on the path
    monkeypatch.delitem(sys.modules, "alert_flows", raising=False)
    config = init_project(tmp_path)
    (tmp_path / "alert_flows.py").write_text(FLOWS)
    (tmp_path / "loopml.yaml").write_text(PROJECT_FILE)
    (rule,) = read_alert_rules(tmp_path)
    firing = synthetic_firing(rule, now_ms=1_700_000_000_000, value=0.8)
    with Client(config=config) as client:
        (outcome,) = fire(firing, project=tmp_path, client=client)
        assert outcome.ok, outcome
        assert outcome.run_id is not None
        run = client.get_run(outcome.run_id)
    monkeypatch.delitem(sys.modules, "alert_flows", raising=False)
    assert run.tags[REF_TAG] == "alert_flows:train"
    assert run.tags[ALERT_RULE_TAG] == "retrain-on-drift"
    assert run.tags[ALERT_DELIVERY_TAG] == firing.delivery_id
    assert run.tags[ALERT_TEST_TAG] == "true"
    # the action's params over the named pipeline's defaults
    assert json.loads(run.tags[PARAMS_TAG]) == {"rows": 6, "label": "nightly"}
