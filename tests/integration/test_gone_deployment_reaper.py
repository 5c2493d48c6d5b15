"""``loopml server``'s reaper marks deployments whose heartbeat lapsed gone and ends their
serving runs KILLED at the last heartbeat, long before the runs' own lapse (10 minutes), and
records it in the event log. Over a real SQLite store; the reaper is called, not waited for."""

from __future__ import annotations

import time
from pathlib import Path

from loopml.core.entities import RunStatus
from loopml.core.ids import new_id, now_ms
from loopml.core.loop_records import DeploymentState, NewDeployment
from loopml.server.run_reaper import RunReaper
from loopml.stores.loop.sql import SqlLoopStore
from loopml.stores.metadata.base import NewRun
from loopml.stores.metadata.sql import SqlMetadataStore


def test_the_reaper_closes_the_serving_run_of_a_gone_deployment(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'loopml.db'}"
    with SqlMetadataStore(uri) as metadata:
        loop = SqlLoopStore(uri)
        try:
            experiment = metadata.create_experiment("serving")
            run = metadata.create_run(NewRun(experiment.id, "serve cancer@champion", now_ms()))
            kept = metadata.create_run(NewRun(experiment.id, "serve cancer@champion", now_ms()))
            silent = NewDeployment(new_id(), "cancer", "http://10.0.0.5:8080", 1, run_id=run.id)
            beating = NewDeployment(new_id(), "cancer", "http://10.0.0.6:8080", 3_600_000)
            loop.register_deployment(silent)
            loop.register_deployment(beating)
            time.sleep(0.05)  # > 3 x its 1 ms heartbeat

            reaper = RunReaper(metadata, interval_s=0, lapse_s=600, loop_store=loop)
            assert reaper.close_lapsed() == 0  # no run lapsed by its own heartbeat

            gone = loop.get_deployment(silent.id)
            assert gone.state is DeploymentState.GONE and gone.end_reason == "heartbeat lapsed"
            assert loop.get_deployment(beating.id).state is DeploymentState.LIVE
            closed = metadata.get_run(run.id)
            assert (closed.status, closed.end_time) == (RunStatus.KILLED, gone.heartbeat_at)
            assert metadata.get_run(kept.id).status is RunStatus.RUNNING
            actions = [(e.action, e.target) for e in metadata.list_events(max_results=1000)]
            assert ("deployment.gone", f"deployment:{silent.id}") in actions
        finally:
            loop.close()
