"""The agent's pure parts: which version an alias was moved to and when (rollbacks undo a
move), a monitoring window as the loop's signals, windows merged over a span, and the name of
the agent's lease."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from loopml.core.entities import AliasChange
from loopml.core.loop_records import check_lease_name
from loopml.loop.agent import agent_lease_name
from loopml.loop.agent_guard import forward_moves
from loopml.loop.agent_signals import merge_windows, signals_of
from loopml.loop.decide import Window
from loopml.monitoring.window_checks import WindowChecks
from loopml.monitoring.windows import Window as LogWindow
from loopml.tracking.client import ClientSpec


def _change(to: int | None, at: int) -> AliasChange:
    return AliasChange("m", "champion", None, to, at)


def test_forward_moves_take_rollbacks_out() -> None:
    history = [_change(1, 10), _change(2, 20), _change(3, 30), _change(2, 40)]
    assert forward_moves(history) == [(1, 10), (2, 20)]  # 3 was undone: 2 dates from 20
    assert forward_moves([*history, _change(4, 50)]) == [(1, 10), (2, 20), (4, 50)]
    assert forward_moves([*history, _change(None, 50), _change(5, 60)]) == [(5, 60)]


def test_signals_of_a_monitoring_window() -> None:
    window = LogWindow(0, 60_000, "m@3", rows=40, requests=20, errors=5)
    window.checks = WindowChecks(
        drift={"share": 0.5, "features": {"age": {"statistic": 0.3, "drifted": True}}},
        prediction_drift={"statistic": 0.12},
        performance={"labelled": 25, "accuracy": 0.8, "roc_auc": None},
        estimated_performance={"metrics": {"accuracy": {"value": 0.75, "error": 0.02}}},
    )
    signals, labels = signals_of(window)
    assert labels == 25 and signals["traffic"] == 40.0 and signals["error_rate"] == 0.2
    assert signals["drift_share"] == 0.5 and signals["feature_drift.age"] == 0.3
    assert signals["prediction_drift"] == 0.12 and signals["accuracy"] == 0.8
    assert signals["roc_auc"] is None and signals["estimated_accuracy"] == 0.75
    empty, none = signals_of(LogWindow(0, 60_000, "m@3"))
    assert none == 0 and empty["traffic"] == 0.0 and empty["drift_share"] is None


def test_merged_windows_weight_each_signal_by_its_samples() -> None:
    first = Window(0, 10, {"traffic": 100, "accuracy": 1.0, "drift_share": 0.2}, labels=10)
    second = Window(10, 20, {"traffic": 300, "accuracy": 0.5, "drift_share": 0.6}, labels=30)
    merged = merge_windows([first, second])
    assert merged is not None and (merged.start_ms, merged.end_ms) == (0, 20)
    assert merged.traffic == 400 and merged.labels == 40
    assert merged.signals["accuracy"] == pytest.approx((1.0 * 10 + 0.5 * 30) / 40)
    assert merged.signals["drift_share"] == pytest.approx((0.2 * 100 + 0.6 * 300) / 400)
    assert merge_windows([]) is None


def test_the_agent_lease_names_the_store_never_its_password(tmp_path: Path) -> None:
    def name(**spec: str | None) -> str:
        client: Any = SimpleNamespace(spec=ClientSpec(**spec))
        return agent_lease_name(client, tmp_path)

    assert name(server_url="http://10.0.0.5:5000") == "agent:10.0.0.5:5000"
    assert name(store_uri="sqlite:////srv/p/.loopml/loopml.db") == "agent:srv-p-.loopml-loopml.db"
    secret = name(store_uri="postgresql+psycopg://u:hunter2@db/loopml")
    assert secret.startswith("agent:store-") and "hunter2" not in secret
    assert secret == name(store_uri="postgresql+psycopg://u:hunter2@db/loopml")
    check_lease_name(name(store_uri="sqlite:///" + "/x" * 200))  # long paths are cut to fit
