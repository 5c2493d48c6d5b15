"""The agent's alerts, on a real SQLite project: a rule whose condition holds on the newest
complete window fires once (its log action runs), its cooldown is kept in the store, so the
next tick — by a restarted agent, a new client — does not fire it again; an agent whose lease
was taken fires nothing."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from sklearn.dummy import DummyClassifier  # type: ignore[import-untyped]

import loopml
from loopml.core.config import init_project
from loopml.core.errors import LeaseLostError
from loopml.core.ids import new_id, now_ms
from loopml.core.loop_records import NewDeployment
from loopml.loop.agent_tick import ALERT_STATE, tick_once
from loopml.monitoring.log_records import PredictionEntry
from loopml.monitoring.log_store import SERVER, RunSink, start_log_run
from loopml.monitoring.prediction_log import PredictionLog
from loopml.serving.rows import Rows
from loopml.tracking.client import Client

MINUTE = 60_000
RULES = """\
alerts:
  busy:
    model: points@champion
    signal: traffic
    condition: "> 5"
    window: 1m
    cooldown: 1h
    actions: [log]
"""


def test_a_firing_is_cooled_down_across_agent_restarts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "loopml.yaml").write_text(RULES, encoding="utf-8")
    config = init_project(project)
    start = (now_ms() // MINUTE - 5) * MINUTE  # a whole minute, in the past
    with Client(config=config, create=False) as client:
        model = DummyClassifier().fit([[0.0], [1.0]], [0, 1])
        loopml.models.register("points", model, input_example=[[0.0]], client=client)
        server = start_log_run(client, model="points", kind=SERVER, name="serve points")
        client.loop.register_deployment(
            NewDeployment(new_id(), "points", "http://127.0.0.1:8080", MINUTE, "champion", 1,
                          server.id)
        )  # fmt: skip
        log = PredictionLog(RunSink(client, server.id), tmp_path / "spool", flush_seconds=0.05)
        log.start()
        for index in range(10):
            table = pa.table({"x": [float(index)]})
            prefix = f"{index:04d}{'0' * 28}"
            log.add(PredictionEntry(prefix, f"r{index}", start + index * 1000, "points@1",
                                    "main", 1.0, Rows(table), np.array([0])))  # fmt: skip
        log.close()
        lease = client.loop.acquire_lease("agent:test", "tester", 60_000)
        assert lease is not None
        with caplog.at_level(logging.INFO, logger="loopml.alerts"):
            report = tick_once(client, project, lease=lease, now_ms=start + MINUTE)
        assert report.errors == {} and [a["rule"] for a in report.alerts] == ["busy"]
        assert report.alerts[0]["value"] == 10 and report.alerts[0]["actions"][0]["ok"]
        assert any("alert busy fired" in r.getMessage() for r in caplog.records)
        stored = client.loop.get_loop_state(ALERT_STATE)
        assert stored is not None and stored["last_fired"][0]["rule"] == "busy"

    with Client(config=config, create=False) as restarted:  # another process's view
        again = tick_once(restarted, project, lease=lease, now_ms=start + MINUTE + 1000)
        assert again.alerts == [] and again.errors == {}
        restarted.loop.put_loop_state(ALERT_STATE, {})  # cooled down: it would fire again
        deposed = replace(lease, token=lease.token + 1)  # ... but not by a deposed agent
        with pytest.raises(LeaseLostError):
            tick_once(restarted, project, lease=deposed, now_ms=start + MINUTE + 2000)
