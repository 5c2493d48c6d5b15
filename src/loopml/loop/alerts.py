"""Evaluating alert rules against the signals of monitoring windows (pure: no I/O, no clock).

The caller (``loopml alerts``, the agent) passes the windows, the state of the previous
evaluation and the time; it gets back the firings, the rules held back by their cooldown, the
rules that had no data, and the new state to keep (the agent stores it; nothing is kept here).

>>> from loopml.loop.alert_rules import AlertRule, Condition
>>> rule = AlertRule("drift", "churn@champion", "drift_share", Condition(">", 0.3),
...                  window_ms=3_600_000, cooldown_ms=3_600_000)
>>> window = SignalWindow("churn@champion", 0, 3_600_000, {"drift_share": 0.5})
>>> first = evaluate([rule], [window], AlertState(), now_ms=3_600_000)
>>> [f.value for f in first.firings]
[0.5]
>>> again = evaluate([rule], [window], first.state, now_ms=3_700_000)
>>> len(again.firings), len(again.suppressed)
(0, 1)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loopml.core.durations import format_duration_ms
from loopml.core.errors import InvalidInputError
from loopml.core.ids import format_ms, new_id
from loopml.loop.alert_rules import AlertRule

__all__ = [
    "AlertState",
    "Evaluation",
    "Firing",
    "NoData",
    "SignalWindow",
    "evaluate",
    "synthetic_firing",
]


@dataclass(frozen=True)
class SignalWindow:
    """The signals of one model over one window ``[start_ms, end_ms)``: name → number, with
    ``None`` (or NaN, ±inf) for a signal the window has no data for. ``model`` is ``NAME@ALIAS``."""

    model: str
    start_ms: int
    end_ms: int
    signals: Mapping[str, float | None]

    @property
    def length_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True)
class Firing:
    """A rule whose condition held on a window (or a test firing: ``test``).

    ``delivery_id`` is the same for the same rule, model and window, so a receiver that
    deduplicates by it sees a firing once, even when it is re-sent after a crash."""

    rule: AlertRule
    model: str
    value: float
    start_ms: int
    end_ms: int
    fired_at_ms: int
    delivery_id: str
    test: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The firing as the webhook sends it (and the log action logs it)."""
        return {
            "delivery_id": self.delivery_id,
            "test": self.test,
            "rule": self.rule.name,
            "model": self.model,
            "signal": self.rule.signal,
            "value": self.value,
            "condition": str(self.rule.condition),
            "operator": self.rule.condition.operator,
            "threshold": self.rule.condition.threshold,
            "window": {
                "start": format_ms(self.start_ms),
                "end": format_ms(self.end_ms),
                "length": format_duration_ms(self.end_ms - self.start_ms),
            },
            "severity": self.rule.severity,
            "fired_at": format_ms(self.fired_at_ms),
        }


@dataclass(frozen=True)
class NoData:
    """A rule that could not be judged: no window of its model and length, or no value of
    its signal in that window. Not a firing."""

    rule: str
    model: str
    reason: str


@dataclass(frozen=True)
class AlertState:
    """When each rule last fired, per watched model (``(rule, model)`` → ms since the epoch).
    :meth:`to_dict` / :meth:`from_dict` turn it into JSON and back, for whoever stores it."""

    last_fired_ms: Mapping[tuple[str, str], int] = field(default_factory=dict)

    def last_fired(self, rule: str, model: str) -> int | None:
        return self.last_fired_ms.get((rule, model))

    def fired(self, rule: str, model: str, at_ms: int) -> AlertState:
        return AlertState({**self.last_fired_ms, (rule, model): at_ms})

    def to_dict(self) -> dict[str, Any]:
        fired = [
            {"rule": rule, "model": model, "fired_at_ms": at}
            for (rule, model), at in sorted(self.last_fired_ms.items())
        ]
        return {"last_fired": fired}

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> AlertState:
        return cls(
            {
                (str(entry["rule"]), str(entry["model"])): int(entry["fired_at_ms"])
                for entry in document.get("last_fired", [])
            }
        )


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation found, and the state to pass to the next one."""

    firings: tuple[Firing, ...]
    suppressed: tuple[Firing, ...]  # the condition held, but the rule is cooling down
    no_data: tuple[NoData, ...]
    state: AlertState


def evaluate(
    rules: Iterable[AlertRule],
    windows: Sequence[SignalWindow],
    state: AlertState,
    *,
    now_ms: int,
) -> Evaluation:
    """Judge each rule on the newest window of each model it watches whose length is the
    rule's window. A rule fires when its signal has a value that meets the condition and it
    last fired on that model ``cooldown`` or longer before ``now_ms``."""
    firings: list[Firing] = []
    suppressed: list[Firing] = []
    no_data: list[NoData] = []
    for rule in rules:
        watched = [window for window in windows if rule.watches(window.model)]
        if not watched:
            no_data.append(NoData(rule.name, rule.model, f"no window of {rule.model}"))
            continue
        for model in sorted({window.model for window in watched}):
            window = _newest(watched, model, rule.window_ms)
            if window is None:
                length = format_duration_ms(rule.window_ms)
                no_data.append(NoData(rule.name, model, f"no {length} window of {model}"))
                continue
            value = window.signals.get(rule.signal)
            if value is None or not math.isfinite(value):
                no_data.append(NoData(rule.name, model, f"no value of {rule.signal}"))
                continue
            if not rule.condition.holds(value):
                continue
            firing = Firing(
                rule=rule,
                model=model,
                value=float(value),
                start_ms=window.start_ms,
                end_ms=window.end_ms,
                fired_at_ms=now_ms,
                delivery_id=_delivery_id(rule.name, model, window),
            )
            last = state.last_fired(rule.name, model)
            if last is not None and now_ms - last < rule.cooldown_ms:
                suppressed.append(firing)
                continue
            firings.append(firing)
            state = state.fired(rule.name, model, now_ms)
    return Evaluation(tuple(firings), tuple(suppressed), tuple(no_data), state)


def synthetic_firing(rule: AlertRule, *, now_ms: int, value: float | None = None) -> Firing:
    """A firing of ``rule`` marked as a test, on the window ending now, with ``value``
    (default: the rule's threshold), to check that its actions reach their targets."""
    if value is not None and not math.isfinite(value):
        raise InvalidInputError(f"A test firing needs a finite value; got {value!r}.")
    return Firing(
        rule=rule,
        model=rule.model,
        value=rule.condition.threshold if value is None else float(value),
        start_ms=now_ms - rule.window_ms,
        end_ms=now_ms,
        fired_at_ms=now_ms,
        delivery_id=new_id(),
        test=True,
    )


def _newest(windows: Sequence[SignalWindow], model: str, length_ms: int) -> SignalWindow | None:
    fitting = [w for w in windows if w.model == model and w.length_ms == length_ms]
    return max(fitting, key=lambda w: w.end_ms, default=None)


def _delivery_id(rule: str, model: str, window: SignalWindow) -> str:
    key = f"{rule}\n{model}\n{window.start_ms}\n{window.end_ms}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
