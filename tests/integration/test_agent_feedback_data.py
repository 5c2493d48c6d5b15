"""A retraining whose policy asks for feedback data (``feedback: {append: true}``) trains on
the champion's labelled predictions: one agent tick on a decayed champion makes them the
dataset's next version (after the newest version's rows) and the pipeline is run on it."""

from __future__ import annotations

from pathlib import Path

import loopml
from loopml.core.config import init_project
from loopml.core.ids import now_ms
from loopml.core.loop_records import TriggerKind
from loopml.loop.agent_tick import tick_once
from loopml.monitoring.log_records import FeedbackEntry
from loopml.tracking.client import Client
from tests.fixtures.agent_project import log_predictions, seed_champion, write_agent_project
from tests.integration.test_agent_rollback import _requests

HOUR = 3_600_000
MINUTE = 60_000
DECAYING = """\
pipelines:
  train-points: pipelines:training
retraining:
  - model: points@champion
    pipeline: train-points
    dataset: points
    data_param: data
    triggers:
      decay: {metric: accuracy, below: 0.5, window: 1h, min_labels: 20}
    feedback: {append: true}
    gate: gates.yaml
    promotion: auto
"""


def test_a_decay_retraining_trains_on_the_labelled_predictions(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_agent_project(project, DECAYING)
    with Client(config=init_project(project), create=False) as client:
        seed_champion(client, project)  # points@1 (trained on), points@2 (newest), v1 champion
        hour = (now_ms() // HOUR - 3) * HOUR
        requests, ids, labels = _requests(1, hour + MINUTE, right=False)  # every one wrong
        feedback = FeedbackEntry(ids, labels, hour + 30 * MINUTE)
        log_predictions(client, tmp_path / "spool", [*requests, feedback], follows="champion")
        lease = client.loop.acquire_lease("agent:test", "tester", 600_000)
        assert lease is not None

        report = tick_once(client, project, lease=lease, now_ms=hour + HOUR + 5 * MINUTE)

        (tick,) = report.models
        assert tick.error is None and tick.decided is not None, report.to_dict()
        (decision,) = client.loop.list_decisions(model="points").items
        assert decision.trigger is TriggerKind.DECAY
        assert decision.evidence["data_version"] == 3 and decision.evidence["feedback_rows"] == 30
        exported = loopml.data.get("points@3", client=client).to_arrow()
        assert exported.num_rows == 300 + 30  # points@2's rows, then the labelled ones
        assert exported.column("y").to_pylist()[300:] == labels
        assert (project / "started").read_text(encoding="utf-8") == "points@3"
