"""Alert rules: the ``alerts:`` section of ``<project>/loopml.yaml``, read into frozen rules.

A rule watches one signal of a model's monitoring windows (the list: :mod:`loopml.loop.signals`)
and fires its actions when the condition holds::

    alerts:
      drift-high:                       # the rule's name
        model: churn@champion           # NAME (every alias) or NAME@ALIAS
        signal: drift_share
        condition: "> 0.3"              # >, >=, < or <= and a number (quote it: see below)
        window: 1h                      # the monitoring window the signal is computed over
        cooldown: 6h                    # after firing, quiet this long (default: the window)
        severity: warning               # info, warning (default) or critical
        actions:                        # default: [log]
          - webhook: {url: "https://hooks.example.com/ml", secret_env: ALERT_SECRET,
                      timeout: 5s, retries: 3, budget: 1m}
          - log: {}
          - pipeline: {name: training, params: {n_estimators: 300}}

YAML reads a bare ``>`` as the start of a folded text block, so a condition starting with
``>`` must be quoted. The webhook's HMAC secret is read from the environment variable
``secret_env`` names when the webhook is sent, never from the file. A pipeline action names a
pipeline of the same file's ``pipelines:``. Every error names the file, line, column and
field: ``loopml.yaml:7:16: alerts.drift-high.condition: ...``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import yaml

from loopml.core.durations import DURATION_FORMS, format_duration_ms, parse_duration_ms
from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.core.redaction import redact_uri
from loopml.core.refs import parse_model_ref
from loopml.core.suggest import did_you_mean
from loopml.core.yaml_nodes import YamlReader
from loopml.loop.signals import check_signal
from loopml.pipelines.loading import PROJECT_FILE, named_pipelines

__all__ = [
    "OPERATORS",
    "SEVERITIES",
    "AlertAction",
    "AlertRule",
    "Condition",
    "LogAction",
    "PipelineAction",
    "WebhookAction",
    "alert_rules_from_yaml",
    "find_rule",
    "read_alert_rules",
]

OPERATORS = (">", ">=", "<", "<=")
SEVERITIES = ("info", "warning", "critical")
ACTION_KINDS = ("webhook", "log", "pipeline")
_RULE_KEYS = ("model", "signal", "condition", "window", "cooldown", "severity", "actions")
_WEBHOOK_KEYS = ("url", "secret_env", "timeout", "retries", "budget")
_PIPELINE_KEYS = ("name", "params")
_CONDITION = re.compile(r"^\s*(>=|<=|>|<)\s*(\S+)\s*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_BARE_FOLDED_CONDITION = re.compile(r"^(\s*condition:\s*)>")
MAX_WEBHOOK_TIMEOUT_MS = 300_000
MAX_WEBHOOK_RETRIES = 20


@dataclass(frozen=True)
class Condition:
    """``value OPERATOR threshold``, e.g. ``> 0.3``."""

    operator: str
    threshold: float

    def holds(self, value: float) -> bool:
        if self.operator == ">":
            return value > self.threshold
        if self.operator == ">=":
            return value >= self.threshold
        if self.operator == "<":
            return value < self.threshold
        return value <= self.threshold

    def __str__(self) -> str:
        return f"{self.operator} {self.threshold:g}"


@dataclass(frozen=True)
class WebhookAction:
    """POST the firing as JSON to ``url``, signed with the secret in ``$secret_env`` (if any);
    each attempt within ``timeout_ms``, up to ``retries`` retries within ``budget_ms``."""

    kind: ClassVar[str] = "webhook"
    url: str
    secret_env: str | None = None
    timeout_ms: int = 5_000
    retries: int = 3
    budget_ms: int = 60_000

    def describe(self) -> str:
        signed = f", signed with ${self.secret_env}" if self.secret_env else ", unsigned"
        return f"webhook {redact_uri(self.url)}{signed}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "url": redact_uri(self.url),
            "secret_env": self.secret_env,
            "timeout": format_duration_ms(self.timeout_ms),
            "retries": self.retries,
            "budget": format_duration_ms(self.budget_ms),
        }


@dataclass(frozen=True)
class LogAction:
    """A structured line through :mod:`logging` (logger ``loopml.alerts``)."""

    kind: ClassVar[str] = "log"

    def describe(self) -> str:
        return "log"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}


@dataclass(frozen=True)
class PipelineAction:
    """Run the pipeline ``loopml.yaml`` names ``name``, with ``params`` (as text, like
    ``--param``) over its defaults."""

    kind: ClassVar[str] = "pipeline"
    name: str
    params: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        params = "".join(f" {key}={value}" for key, value in self.params.items())
        return f"pipeline {self.name}{params}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "params": dict(self.params)}


AlertAction = WebhookAction | LogAction | PipelineAction
# the pipelines a pipeline action may name, or a function returning them (called if one does)
PipelineNames = Collection[str] | Callable[[], Collection[str]]


@dataclass(frozen=True)
class AlertRule:
    """One parsed rule; ``source`` is ``FILE:LINE`` where it is written (for messages)."""

    name: str
    model: str
    signal: str
    condition: Condition
    window_ms: int
    cooldown_ms: int
    severity: str = "warning"
    actions: tuple[AlertAction, ...] = (LogAction(),)
    source: str = "<rules>"

    def watches(self, model: str) -> bool:
        """Whether a window of ``model`` (``NAME@ALIAS``) is one this rule watches."""
        return model == self.model or ("@" not in self.model and model.split("@")[0] == self.model)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "signal": self.signal,
            "condition": str(self.condition),
            "window": format_duration_ms(self.window_ms),
            "cooldown": format_duration_ms(self.cooldown_ms) if self.cooldown_ms else "0s",
            "severity": self.severity,
            "actions": [action.to_dict() for action in self.actions],
            "source": self.source,
        }


def read_alert_rules(project: Path) -> tuple[AlertRule, ...]:
    """The rules of ``<project>/loopml.yaml`` (none without the file or its ``alerts:``)."""
    path = project / PROJECT_FILE
    if not path.is_file():
        return ()
    text = path.read_text(encoding="utf-8")
    return alert_rules_from_yaml(
        text, source=str(path), pipelines=lambda: list(named_pipelines(project))
    )


def alert_rules_from_yaml(
    text: str,
    *,
    source: str = PROJECT_FILE,
    pipelines: PipelineNames = (),
) -> tuple[AlertRule, ...]:
    """The rules in a ``loopml.yaml`` document; ``pipelines`` are the names a pipeline action
    may use (or a function returning them, called only if a rule has one)."""
    reader = YamlReader(source)
    try:
        root = reader.compose(text)
    except InvalidInputError as exc:
        raise _folded_condition_error(text, source) or exc from exc.__cause__
    if root is None:
        return ()
    if not isinstance(root, yaml.MappingNode):
        raise reader.error(root, "loopml.yaml", f"expected a mapping, got {reader.kind(root)}")
    section = next(
        (value for key, value in root.value if getattr(key, "value", None) == "alerts"), None
    )
    if section is None or (isinstance(section, yaml.ScalarNode) and section.tag.endswith("null")):
        return ()
    if not isinstance(section, yaml.MappingNode):
        raise reader.error(
            section, "alerts", f"expected a mapping of rule name → rule, got {reader.kind(section)}"
        )
    parser = _RuleParser(reader, pipelines)
    rules: dict[str, AlertRule] = {}
    for key_node, rule_node in section.value:
        name = reader.text(key_node, "alerts")
        if not _RULE_NAME.match(name):
            raise reader.error(
                key_node,
                "alerts",
                f"rule name {name!r}: use 1-128 letters, digits, '_', '.' or '-', starting "
                "with a letter or digit",
            )
        if name in rules:
            raise reader.error(key_node, f"alerts.{name}", "rule named twice")
        rules[name] = parser.rule(name, rule_node)
    return tuple(rules.values())


def find_rule(rules: Collection[AlertRule], name: str) -> AlertRule:
    """The rule named ``name``; unknown names raise, naming the rules there are."""
    for rule in rules:
        if rule.name == name:
            return rule
    names = [rule.name for rule in rules]
    known = ", ".join(names) or f"none (no 'alerts:' in {PROJECT_FILE})"
    raise NotFoundError(
        f"No alert rule is named {name!r}.{did_you_mean(name, names)} Rules: {known}."
    )


def _folded_condition_error(text: str, source: str) -> InvalidInputError | None:
    for number, line in enumerate(text.splitlines(), start=1):
        found = _BARE_FOLDED_CONDITION.match(line)
        if found is not None:
            return InvalidInputError(
                f"{source}:{number}:{found.end(1) + 1}: condition: quote a condition that starts "
                "with '>' (YAML reads a bare '>' as a folded text block): condition: \"> 0.3\""
            )
    return None


class _RuleParser:
    def __init__(self, reader: YamlReader, pipelines: PipelineNames) -> None:
        self.reader = reader
        self._pipelines = pipelines
        self._pipeline_names: list[str] | None = None

    def rule(self, name: str, node: object) -> AlertRule:
        reader, where = self.reader, f"alerts.{name}"
        keys = reader.mapping(node, where, _RULE_KEYS)
        for required in ("model", "signal", "condition", "window"):
            if required not in keys:
                raise reader.error(node, where, f"missing key {required!r}")
        window_ms = self.duration(keys["window"], f"{where}.window", minimum_ms=1_000)
        cooldown_ms = window_ms
        if "cooldown" in keys:
            cooldown_ms = self.duration(keys["cooldown"], f"{where}.cooldown", minimum_ms=0)
        severity = "warning"
        if "severity" in keys:
            severity = self.choice(keys["severity"], f"{where}.severity", SEVERITIES)
        actions: tuple[AlertAction, ...] = (LogAction(),)
        if "actions" in keys:
            actions = self.actions(keys["actions"], f"{where}.actions")
        mark = getattr(node, "start_mark", None)
        return AlertRule(
            name=name,
            model=self.model(keys["model"], f"{where}.model"),
            signal=self.signal(keys["signal"], f"{where}.signal"),
            condition=self.condition(keys["condition"], f"{where}.condition"),
            window_ms=window_ms,
            cooldown_ms=cooldown_ms,
            severity=severity,
            actions=actions,
            source=f"{reader.source}:{mark.line + 1}" if mark is not None else reader.source,
        )

    def model(self, node: object, where: str) -> str:
        text = self.reader.text(node, where)
        try:
            ref = parse_model_ref(text)
        except InvalidInputError as exc:
            raise self.reader.error(node, where, exc.message.rstrip(".")) from exc
        if ref.version is not None:
            raise self.reader.error(
                node, where, f"{text!r} names a version; a rule watches NAME or NAME@ALIAS"
            )
        return str(ref)

    def signal(self, node: object, where: str) -> str:
        name = self.reader.text(node, where)
        problem = check_signal(name)
        if problem:
            raise self.reader.error(
                node, where, f"{problem} Signals are listed in docs/monitoring.md#alerts"
            )
        return name

    def condition(self, node: object, where: str) -> Condition:
        text = self.reader.text(node, where)
        found = _CONDITION.match(text)
        allowed = 'an operator (>, >=, < or <=) and a number, e.g. "> 0.3"'
        if found is None:
            raise self.reader.error(node, where, f"expected {allowed}; got {text!r}")
        try:
            threshold = float(found.group(2))
        except ValueError:
            threshold = float("nan")
        if threshold != threshold or threshold in (float("inf"), float("-inf")):
            raise self.reader.error(node, where, f"expected {allowed}; got {text!r}")
        return Condition(found.group(1), threshold)

    def duration(self, node: object, where: str, *, minimum_ms: int) -> int:
        text = self.reader.scalar(node, where, (str, int), DURATION_FORMS)
        ms = parse_duration_ms(str(text)) if isinstance(text, str) else None
        if ms is None:
            raise self.reader.error(node, where, f"expected {DURATION_FORMS}; got {text!r}")
        if ms < minimum_ms:
            least = format_duration_ms(minimum_ms) if minimum_ms else "0s"
            raise self.reader.error(node, where, f"expected at least {least}; got {text!r}")
        return ms

    def choice(self, node: object, where: str, allowed: tuple[str, ...]) -> str:
        value = self.reader.text(node, where)
        if value not in allowed:
            hint = did_you_mean(value, allowed)
            raise self.reader.error(
                node, where, f"expected one of {', '.join(allowed)}; got {value!r}.{hint}"
            )
        return value

    def actions(self, node: object, where: str) -> tuple[AlertAction, ...]:
        items = self.reader.sequence(node, where, "actions (webhook, log or pipeline)")
        if not items:
            raise self.reader.error(node, where, "give at least one action: webhook, log, pipeline")
        return tuple(self.action(item, f"{where}[{i}]") for i, item in enumerate(items))

    def action(self, node: object, where: str) -> AlertAction:
        reader = self.reader
        if isinstance(node, yaml.ScalarNode) and node.value == "log":
            return LogAction()
        entry = reader.mapping(node, where, ACTION_KINDS)
        if len(entry) != 1:
            raise reader.error(
                node, where, "an action is one of webhook, log or pipeline (one key per item)"
            )
        kind, body = next(iter(entry.items()))
        if kind == "log":
            empty = isinstance(body, yaml.MappingNode) and not body.value
            if not empty and not (isinstance(body, yaml.ScalarNode) and body.tag.endswith("null")):
                raise reader.error(
                    body, f"{where}.log", "the log action takes no settings: log: {}"
                )
            return LogAction()
        if kind == "webhook":
            return self.webhook(body, f"{where}.webhook")
        return self.pipeline(body, f"{where}.pipeline")

    def webhook(self, node: object, where: str) -> WebhookAction:
        reader = self.reader
        keys = reader.mapping(node, where, _WEBHOOK_KEYS)
        if "url" not in keys:
            raise reader.error(node, where, "missing key 'url'")
        url = reader.text(keys["url"], f"{where}.url")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise reader.error(
                keys["url"],
                f"{where}.url",
                f"expected an http:// or https:// URL with a host; got {redact_uri(url)!r}",
            )
        values: dict[str, Any] = {"url": url}
        if "secret_env" in keys:
            name = reader.text(keys["secret_env"], f"{where}.secret_env")
            if not _ENV_NAME.match(name):
                raise reader.error(
                    keys["secret_env"],
                    f"{where}.secret_env",
                    f"expected the name of an environment variable (letters, digits, '_'), "
                    f"not the secret itself; got a value of {len(name)} characters",
                )
            values["secret_env"] = name
        if "timeout" in keys:
            values["timeout_ms"] = self.duration(keys["timeout"], f"{where}.timeout", minimum_ms=1)
            if values["timeout_ms"] > MAX_WEBHOOK_TIMEOUT_MS:
                raise reader.error(keys["timeout"], f"{where}.timeout", "expected at most 5m")
        if "budget" in keys:
            values["budget_ms"] = self.duration(keys["budget"], f"{where}.budget", minimum_ms=1)
        if "retries" in keys:
            retries = reader.scalar(keys["retries"], f"{where}.retries", (int,), "a whole number")
            assert isinstance(retries, int)
            if not 0 <= retries <= MAX_WEBHOOK_RETRIES:
                raise reader.error(
                    keys["retries"],
                    f"{where}.retries",
                    f"expected a whole number from 0 to {MAX_WEBHOOK_RETRIES}; got {retries}",
                )
            values["retries"] = retries
        return WebhookAction(**values)

    def pipeline(self, node: object, where: str) -> PipelineAction:
        reader = self.reader
        keys = reader.mapping(node, where, _PIPELINE_KEYS)
        if "name" not in keys:
            raise reader.error(node, where, "missing key 'name' (a pipeline of 'pipelines:')")
        name = reader.text(keys["name"], f"{where}.name")
        known = self.pipeline_names()
        if name not in known:
            names = ", ".join(known) or "none"
            raise reader.error(
                keys["name"],
                f"{where}.name",
                f"no pipeline is named {name!r} in 'pipelines:' (named: {names})."
                + did_you_mean(name, known),
            )
        params: dict[str, str] = {}
        if "params" in keys:
            params_node = keys["params"]
            if not isinstance(params_node, yaml.MappingNode):
                raise reader.error(
                    params_node,
                    f"{where}.params",
                    f"expected a mapping, got {reader.kind(params_node)}",
                )
            for key_node, value_node in params_node.value:
                key = reader.text(key_node, f"{where}.params")
                value = reader.constructor.construct_object(value_node, deep=True)
                params[key] = value if isinstance(value, str) else json.dumps(value, default=str)
        return PipelineAction(name, params)

    def pipeline_names(self) -> list[str]:
        if self._pipeline_names is None:
            found = self._pipelines() if callable(self._pipelines) else self._pipelines
            self._pipeline_names = [str(name) for name in found]
        return self._pipeline_names
