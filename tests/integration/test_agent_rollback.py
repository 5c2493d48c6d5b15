"""The rollback guard in action, on a real SQLite project: version 2 is promoted by hand over
version 1, the prediction log (written by its own writer) shows it is worse once labels are
fed back, and one agent tick moves the alias back to version 1 and records why; the next tick
does nothing more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

import loopml
from loopml.core.config import init_project
from loopml.core.loop_records import DecisionState, TriggerKind
from loopml.loop.agent_tick import tick_once
from loopml.monitoring.log_records import FeedbackEntry, PredictionEntry
from loopml.serving.rows import Rows
from loopml.tracking.client import Client
from tests.fixtures.agent_project import log_predictions, seed_champion, write_agent_project

MINUTE = 60_000
GUARDED = """\
pipelines:
  train-points: pipelines:training
retraining:
  - model: points@champion
    pipeline: train-points
    triggers:
      drift: {drift_share: 1.0, window: 1h, min_samples: 1000000}
    rollback_guard: {metric: accuracy, margin: 0.1, watch: 1h, min_samples: 20}
"""


def _requests(version: int, start_ms: int, right: bool) -> tuple[list[Any], list[str], list[int]]:
    """30 one-row requests to ``points@version`` a minute apart from ``start_ms``, and labels
    that agree with every prediction (``right``) or with none."""
    rng = np.random.default_rng(version)
    entries: list[Any] = []
    ids, labels = [], []
    for index in range(30):
        prefix = f"{version:02d}{index:04d}{'0' * 26}"
        prediction = int(rng.integers(0, 2))
        table = pa.table({"a": rng.normal(0.0, 1.0, 1), "b": rng.normal(0.0, 1.0, 1)})
        entries.append(
            PredictionEntry(
                prefix, f"r{version}-{index}", start_ms + index * MINUTE // 10,
                f"points@{version}", "main", 2.0, Rows(table), np.array([prediction]),
            )
        )  # fmt: skip
        ids.append(f"{prefix}-0")
        labels.append(prediction if right else 1 - prediction)
    return entries, ids, labels


def test_a_worse_champion_is_rolled_back_by_the_next_tick(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_agent_project(project, GUARDED)
    with Client(config=init_project(project), create=False) as client:
        seed_champion(client, project)
        v1 = client.metadata.get_model_version("points", 1)
        model = loopml.models.load("points@1", client=client)
        loopml.models.register("points", model, signature=v1.signature, client=client)
        promoted = loopml.models.set_alias("points", "champion", 2, client=client).at

        before, before_ids, before_labels = _requests(1, promoted - 20 * MINUTE, right=True)
        after, after_ids, after_labels = _requests(2, promoted + MINUTE, right=False)
        feedback = FeedbackEntry(
            before_ids + after_ids, before_labels + after_labels, promoted + 6 * MINUTE
        )
        log_predictions(client, tmp_path / "spool", [*before, *after, feedback])

        lease = client.loop.acquire_lease("agent:test", "tester", 60_000)
        assert lease is not None
        now = promoted + 10 * MINUTE  # within the guard's watch of an hour
        report = tick_once(client, project, lease=lease, now_ms=now)

        (tick,) = report.models
        assert tick.error is None and tick.decided is None, report.to_dict()
        assert tick.rollback is not None and tick.rollback["action"] == "roll_back"
        assert client.metadata.get_model_alias("points", "champion") == 1
        (decision,) = client.loop.list_decisions(model="points").items
        assert decision.trigger is TriggerKind.ROLLBACK_GUARD
        assert decision.state is DecisionState.ROLLED_BACK
        assert decision.evidence["value"] == 0.0 and decision.evidence["previous_value"] == 1.0
        assert decision.evidence["samples"] == 30 and decision.lease_token == lease.token
        assert "from version 2 to 1" in (decision.action or "")

        again = tick_once(client, project, lease=lease, now_ms=now + MINUTE)
        assert again.models[0].rollback is None and again.errors == {}
        assert len(client.loop.list_decisions(model="points").items) == 1
        history = client.metadata.list_alias_history("points", "champion")
        assert [c.to_version for c in history] == [1, 2, 1]
