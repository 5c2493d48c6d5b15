"""What a firing does: POST a signed webhook, log a line, or run a named pipeline.

A webhook is the firing as JSON (:meth:`Firing.to_dict`) with three headers:

- ``X-Loopml-Delivery``: the firing's delivery id, the same on every retry (deduplicate by it);
- ``X-Loopml-Timestamp``: Unix seconds when this attempt was sent;
- ``X-Loopml-Signature``: ``sha256=`` and the hex HMAC-SHA256, keyed with the secret, of
  ``TIMESTAMP + "." + BODY`` (the raw body bytes). Signing the timestamp lets a receiver refuse
  a replayed request: recompute the HMAC, compare in constant time, and refuse timestamps more
  than a few minutes old (docs/monitoring.md#alerts has a receiver).

Attempts are retried on a connection error, a timeout, HTTP 5xx, 408 and 429 — after the
``Retry-After`` the receiver asked for, else after an exponential backoff with jitter — up to
the action's ``retries`` and within its ``budget``; other answers (4xx, 3xx: redirects are not
followed) are not retried.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import random
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from loopml.core.durations import format_duration_ms
from loopml.core.errors import ConfigError, LoopMLError
from loopml.core.redaction import redact_uri
from loopml.loop.alert_rules import LogAction, PipelineAction, WebhookAction
from loopml.loop.alerts import Firing
from loopml.pipelines.loading import plan_named
from loopml.pipelines.runner import REF_TAG, run
from loopml.tracking.client import Client

__all__ = [
    "ALERT_DELIVERY_TAG",
    "ALERT_RULE_TAG",
    "ALERT_TEST_TAG",
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "ActionOutcome",
    "fire",
    "log_firing",
    "run_pipeline_action",
    "send_webhook",
    "sign",
    "webhook_secret",
]

SIGNATURE_HEADER = "X-Loopml-Signature"
TIMESTAMP_HEADER = "X-Loopml-Timestamp"
DELIVERY_HEADER = "X-Loopml-Delivery"
ALERT_RULE_TAG = "loopml.alert_rule"  # on a pipeline run an alert started
ALERT_DELIVERY_TAG = "loopml.alert_delivery"
ALERT_TEST_TAG = "loopml.alert_test"
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0
_RETRIED_STATUSES = frozenset({408, 429})
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}
_log = logging.getLogger("loopml.alerts")


@dataclass(frozen=True)
class ActionOutcome:
    """What one action of a firing did: ``ok``, a line for people, and the HTTP attempts
    (webhook) or the pipeline run it started."""

    action: str  # "webhook", "log" or "pipeline"
    ok: bool
    detail: str
    attempts: int = 1
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "ok": self.ok,
            "detail": self.detail,
            "attempts": self.attempts,
            "run_id": self.run_id,
        }


def fire(
    firing: Firing,
    *,
    project: Path,
    client: Client | None = None,
    environ: Mapping[str, str] | None = None,
    kinds: Collection[str] | None = None,
) -> list[ActionOutcome]:
    """Run the actions of ``firing``'s rule (only those of ``kinds``, if given), each whatever
    the others did; a pipeline action needs ``client``. Failures are outcomes, not raised."""
    outcomes = []
    for action in firing.rule.actions:
        if kinds is not None and action.kind not in kinds:
            continue
        try:
            if isinstance(action, WebhookAction):
                outcomes.append(send_webhook(action, firing, environ=environ))
            elif isinstance(action, LogAction):
                outcomes.append(log_firing(firing))
            elif client is None:
                detail = f"pipeline {action.name}: not run, no client was given to run it with"
                outcomes.append(ActionOutcome(action.kind, False, detail, attempts=0))
            else:
                outcomes.append(run_pipeline_action(action, firing, client=client, project=project))
        except LoopMLError as exc:
            outcomes.append(ActionOutcome(action.kind, False, exc.message, attempts=0))
    return outcomes


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``TIMESTAMP.BODY`` keyed with ``secret``."""
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def webhook_secret(
    action: WebhookAction, rule: str, environ: Mapping[str, str] | None = None
) -> str | None:
    """The signing secret from the environment variable the action names (None: unsigned);
    a variable that is not set, or empty, raises an error naming it (never its value)."""
    if action.secret_env is None:
        return None
    secret = (os.environ if environ is None else environ).get(action.secret_env, "")
    if not secret:
        raise ConfigError(
            f"Alert rule {rule!r}: its webhook is signed with the secret in the environment "
            f"variable {action.secret_env}, which is not set (or empty). Set it where the "
            "alerts run; the secret is never read from loopml.yaml."
        )
    return secret


def send_webhook(
    action: WebhookAction,
    firing: Firing,
    *,
    environ: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ActionOutcome:
    """POST ``firing`` to the action's URL, signed, with retries (see the module docs)."""
    secret = webhook_secret(action, firing.rule.name, environ)
    body = json.dumps(firing.to_dict(), sort_keys=True, separators=(",", ":")).encode("utf-8")
    where = f"webhook {redact_uri(action.url)}"
    deadline = clock() + action.budget_ms / 1000
    attempt = 0
    with httpx.Client(transport=transport, follow_redirects=False) as http:
        while True:
            attempt += 1
            timeout = min(action.timeout_ms / 1000, max(deadline - clock(), 0.001))
            failure, retryable, retry_after = _attempt(
                http, action.url, body, secret, firing, timeout
            )
            if failure is None:
                return ActionOutcome("webhook", True, f"{where}: delivered", attempts=attempt)
            if not retryable or attempt > action.retries:
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                return ActionOutcome("webhook", False, f"{where}: {failure}{tries}", attempt)
            delay = retry_after if retry_after is not None else _backoff_s(attempt)
            if clock() + delay >= deadline:
                budget = format_duration_ms(action.budget_ms)
                detail = f"{where}: {failure}; the retry budget of {budget} is spent"
                return ActionOutcome(
                    "webhook", False, f"{detail} after {attempt} attempts", attempt
                )
            _log.warning("%s: %s; retrying in %.1f s (attempt %d)", where, failure, delay, attempt)
            sleep(delay)


def _attempt(
    http: httpx.Client, url: str, body: bytes, secret: str | None, firing: Firing, timeout: float
) -> tuple[str | None, bool, float | None]:
    """One POST: (why it failed or None, whether to retry, the Retry-After in seconds)."""
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "loopml-alerts",
        DELIVERY_HEADER: firing.delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
    }
    if secret is not None:
        headers[SIGNATURE_HEADER] = "sha256=" + sign(secret, timestamp, body)
    try:
        response = http.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        return f"no answer within {timeout:g} s", True, None
    except httpx.TransportError as exc:
        return f"cannot connect ({type(exc).__name__})", True, None
    status = response.status_code
    if 200 <= status < 300:
        return None, False, None
    failure = f"HTTP {status}"
    if status >= 500 or status in _RETRIED_STATUSES:
        return failure, True, _retry_after_s(response.headers.get("Retry-After"))
    return f"{failure} (not retried)", False, None


def _retry_after_s(header: str | None) -> float | None:
    if header is None:
        return None
    text = header.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - time.time())


def _backoff_s(attempt: int) -> float:
    """Exponential (0.5 s, 1 s, 2 s, … up to 30 s), jittered down by up to half."""
    ceiling: float = min(FIRST_BACKOFF_S * 2.0 ** (attempt - 1), MAX_BACKOFF_S)
    return ceiling * random.uniform(0.5, 1.0)


def log_firing(firing: Firing, *, logger: logging.Logger | None = None) -> ActionOutcome:
    """One line on logger ``loopml.alerts`` at the rule's severity (INFO, WARNING, CRITICAL);
    the firing's fields ride along as ``record.loopml_alert`` for structured handlers."""
    rule = firing.rule
    (logger or _log).log(
        _LEVELS[rule.severity],
        "alert %s%s fired: %s of %s is %g (%s) over %s ending %s; delivery %s",
        rule.name,
        " (test)" if firing.test else "",
        rule.signal,
        firing.model,
        firing.value,
        rule.condition,
        format_duration_ms(firing.end_ms - firing.start_ms),
        firing.to_dict()["window"]["end"],
        firing.delivery_id,
        extra={"loopml_alert": firing.to_dict()},
    )
    return ActionOutcome("log", True, f"logged at {rule.severity.upper()} on loopml.alerts")


def run_pipeline_action(
    action: PipelineAction, firing: Firing, *, client: Client, project: Path
) -> ActionOutcome:
    """Run the named pipeline as ``loopml pipeline run NAME`` would, its run tagged with the
    rule and the delivery id (and ``loopml.alert_test`` for a test firing)."""
    ref, plan = plan_named(action.name, project, [f"{k}={v}" for k, v in action.params.items()])
    tags = {REF_TAG: ref, ALERT_RULE_TAG: firing.rule.name, ALERT_DELIVERY_TAG: firing.delivery_id}
    if firing.test:
        tags[ALERT_TEST_TAG] = "true"
    result = run(plan, client=client, tags=tags)
    return ActionOutcome(
        "pipeline", True, f"pipeline {action.name}: run {result.run_id}", run_id=result.run_id
    )
