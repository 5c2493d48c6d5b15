"""Alert rules read from loopml.yaml: what a good rule becomes, and every malformed one refused
at its file, line, column and field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.loop.alert_rules import (
    Condition,
    LogAction,
    PipelineAction,
    WebhookAction,
    alert_rules_from_yaml,
    find_rule,
    read_alert_rules,
)
from loopml.loop.signals import SIGNALS, check_signal

GOOD = """\
pipelines:
  training: flows:train
alerts:
  drift-high:
    model: churn@champion
    signal: drift_share
    condition: "> 0.3"
    window: 1h
    cooldown: 6h
    severity: critical
    actions:
      - webhook: {url: "https://hooks.example.com/ml", secret_env: ALERT_SECRET,
                  timeout: 2s, retries: 5, budget: 2m}
      - log: {}
      - log
      - pipeline: {name: training, params: {n_estimators: 300, data: iris@latest, cs: [1, 2]}}
  slow:
    model: churn
    signal: latency_p95_ms
    condition: ">= 250"
    window: 15m
"""


def test_a_good_rule_is_read_with_its_defaults() -> None:
    drift, slow = alert_rules_from_yaml(GOOD, pipelines=["training"])
    assert drift.name == "drift-high" and drift.model == "churn@champion"
    assert drift.condition == Condition(">", 0.3)
    assert (drift.window_ms, drift.cooldown_ms, drift.severity) == (
        3_600_000,
        21_600_000,
        "critical",
    )
    assert drift.actions == (
        WebhookAction(
            "https://hooks.example.com/ml",
            secret_env="ALERT_SECRET",
            timeout_ms=2_000,
            retries=5,
            budget_ms=120_000,
        ),
        LogAction(),
        LogAction(),
        PipelineAction("training", {"n_estimators": "300", "data": "iris@latest", "cs": "[1, 2]"}),
    )
    assert drift.source == "loopml.yaml:5"
    # the defaults: cooldown = the window, severity warning, a log action
    assert (slow.cooldown_ms, slow.severity, slow.actions) == (900_000, "warning", (LogAction(),))
    assert slow.to_dict()["condition"] == ">= 250"


def test_a_rule_on_a_name_watches_every_alias_and_one_on_an_alias_only_that_one() -> None:
    drift, slow = alert_rules_from_yaml(GOOD, pipelines=["training"])
    assert drift.watches("churn@champion") and not drift.watches("churn@challenger")
    assert slow.watches("churn@champion") and slow.watches("churn@challenger")
    assert not slow.watches("churner@champion")


RULE = """\
alerts:
  a:
    model: churn
    signal: drift_share
    condition: "> 0.3"
    window: 1h
"""


def _with(line: int, text: str) -> str:
    """RULE with its line ``line`` (1-based) replaced by ``text`` (or text added at the end)."""
    lines = RULE.splitlines()
    if line > len(lines):
        lines.append(text)
    else:
        lines[line - 1] = text
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            _with(4, "    signal: drift_shar"),
            "loopml.yaml:4:13: alerts.a.signal: unknown signal 'drift_shar'. Did you mean "
            "'drift_share'?",
        ),
        (
            _with(4, "    signal: feature_drift."),
            "loopml.yaml:4:13: alerts.a.signal: feature_drift.COLUMN needs a column name",
        ),
        (
            _with(5, "    condition: '=> 0.3'"),
            "loopml.yaml:5:16: alerts.a.condition: expected an operator (>, >=, < or <=) and a "
            "number",
        ),
        (
            _with(5, "    condition: '> high'"),
            "loopml.yaml:5:16: alerts.a.condition: expected an operator",
        ),
        (
            _with(5, "    condition: > 0.3"),
            "loopml.yaml:5:16: condition: quote a condition that starts with '>'",
        ),
        (
            _with(6, "    windw: 1h"),
            "loopml.yaml:6:5: alerts.a: unknown key 'windw'; allowed keys: model, signal, "
            "condition, window, cooldown, severity, actions. Did you mean 'window'?",
        ),
        (
            _with(6, "    window: 1 hour"),
            "loopml.yaml:6:13: alerts.a.window: expected a number and a unit: ms, s, m, h, d or w",
        ),
        (_with(6, "    window: 500ms"), "loopml.yaml:6:13: alerts.a.window: expected at least 1s"),
        (_with(6, "    cooldown: 1h"), "loopml.yaml:3:5: alerts.a: missing key 'window'"),
        (
            _with(3, "    model: churn@3"),
            "loopml.yaml:3:12: alerts.a.model: 'churn@3' names a version",
        ),
        (
            _with(7, "    severity: critcal"),
            "loopml.yaml:7:15: alerts.a.severity: expected one of info, warning, critical; got "
            "'critcal'. Did you mean 'critical'?",
        ),
        (
            _with(7, "    actions: [{webhok: {url: 'https://h.example'}}]"),
            "loopml.yaml:7:16: alerts.a.actions[0]: unknown key 'webhok'; allowed keys: webhook, "
            "log, pipeline. Did you mean 'webhook'?",
        ),
        (
            _with(7, "    actions: [{webhook: {url: 'ftp://h.example'}}]"),
            "loopml.yaml:7:31: alerts.a.actions[0].webhook.url: expected an http:// or https:// "
            "URL",
        ),
        (
            _with(7, "    actions: [{webhook: {url: 'https://h.example', secret_env: 'pa ss'}}]"),
            "loopml.yaml:7:64: alerts.a.actions[0].webhook.secret_env: expected the name of an "
            "environment variable",
        ),
        (
            _with(7, "    actions: [{webhook: {url: 'https://h.example', retries: -1}}]"),
            "loopml.yaml:7:61: alerts.a.actions[0].webhook.retries: expected a whole number from 0",
        ),
        (
            _with(7, "    actions: [{webhook: {url: 'https://h.example', timeout: 10m}}]"),
            "loopml.yaml:7:61: alerts.a.actions[0].webhook.timeout: expected at most 5m",
        ),
        (
            _with(7, "    actions: [{pipeline: {name: trainin}}]"),
            "loopml.yaml:7:33: alerts.a.actions[0].pipeline.name: no pipeline is named 'trainin' "
            "in 'pipelines:' (named: training). Did you mean 'training'?",
        ),
        (
            _with(7, "    actions: [{log: {level: debug}}]"),
            "loopml.yaml:7:21: alerts.a.actions[0].log: the log action takes no settings",
        ),
        (
            _with(7, "    actions: [{log: {}, webhook: {url: 'https://h.example'}}]"),
            "loopml.yaml:7:15: alerts.a.actions[0]: an action is one of webhook, log or pipeline",
        ),
        (_with(7, "    actions: []"), "loopml.yaml:7:14: alerts.a.actions: give at least one"),
        ("alerts:\n  - a\n", "loopml.yaml:2:3: alerts: expected a mapping of rule name → rule"),
        (
            "alerts:\n  a b: {}\n",
            "loopml.yaml:2:3: alerts: rule name 'a b': use 1-128 letters",
        ),
    ],
)
def test_a_malformed_rule_is_refused_at_its_line_column_and_field(
    document: str, expected: str
) -> None:
    with pytest.raises(InvalidInputError, match="^" + re.escape(expected)):
        alert_rules_from_yaml(document, pipelines=["training"])


def test_a_rule_named_twice_is_refused() -> None:
    twice = RULE + "  a:\n    model: other\n"
    with pytest.raises(InvalidInputError, match=r"^loopml.yaml:7:3: alerts.a: rule named twice"):
        alert_rules_from_yaml(twice)


def test_the_secret_itself_is_never_echoed_in_an_error() -> None:
    secret = "whsec/d41d8cd98f00b204+e9800998ecf8427e="
    document = _with(
        7, f"    actions: [{{webhook: {{url: 'https://h.example', secret_env: '{secret}'}}}}]"
    )
    with pytest.raises(InvalidInputError) as refused:
        alert_rules_from_yaml(document)
    assert secret not in refused.value.message
    assert "secret_env" in refused.value.message


def test_a_project_without_loopml_yaml_or_alerts_has_no_rules(tmp_path: Path) -> None:
    assert read_alert_rules(tmp_path) == ()
    (tmp_path / "loopml.yaml").write_text("pipelines:\n  training: flows:train\n")
    assert read_alert_rules(tmp_path) == ()
    assert alert_rules_from_yaml("alerts:\n") == ()


def test_read_alert_rules_checks_pipeline_actions_against_the_files_pipelines(
    tmp_path: Path,
) -> None:
    (tmp_path / "loopml.yaml").write_text(GOOD.replace("training: flows", "nightly: flows"))
    with pytest.raises(InvalidInputError) as refused:
        read_alert_rules(tmp_path)
    assert refused.value.message.startswith(f"{tmp_path / 'loopml.yaml'}:16:26: ")
    assert "no pipeline is named 'training' in 'pipelines:' (named: nightly)" in str(refused.value)
    (tmp_path / "loopml.yaml").write_text(GOOD)
    assert [rule.name for rule in read_alert_rules(tmp_path)] == ["drift-high", "slow"]


def test_find_rule_names_the_rules_there_are() -> None:
    rules = alert_rules_from_yaml(GOOD, pipelines=["training"])
    assert find_rule(rules, "slow").signal == "latency_p95_ms"
    with pytest.raises(NotFoundError, match=r"Did you mean 'drift-high'\? Rules: drift-high, slow"):
        find_rule(rules, "drift-hig")


def test_every_listed_signal_is_accepted_and_feature_drift_takes_a_column() -> None:
    for name in SIGNALS:
        if not name.endswith("COLUMN"):
            assert check_signal(name) == "", name
    assert check_signal("feature_drift.age") == ""
    assert check_signal("feature_drift.COLUMN") == ""  # a column may be called COLUMN
    assert "unknown signal" in check_signal("latency")
