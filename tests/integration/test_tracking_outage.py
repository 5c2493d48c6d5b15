"""Tracking against a real ``loopml server`` that loses an answer, goes away for a few
seconds, or stays away: nothing is stored twice, nothing is lost within the retry budget,
and a run that did lose points never looks complete. Also: the server closes runs whose
heartbeat lapsed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loopml.core.entities import RunStatus
from loopml.core.errors import BackendUnavailableError
from loopml.core.ids import now_ms
from loopml.stores.metadata.base import NewRun
from loopml.stores.remote.metadata import HttpMetadataStore
from loopml.tracking.batcher import Batcher, BatcherLimits
from loopml.tracking.client import DROPPED_POINTS_TAG, Client
from tests.e2e.runner import cli
from tests.fixtures.lossy_proxy import AnswerDroppingProxy
from tests.fixtures.model_server import wait_for
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.server import PlatformServer, start_platform_server, wait_until_ready
from tests.fixtures.server_restarts import PlatformServerRestarts

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def lossy_proxy(platform_server: PlatformServer) -> Iterator[AnswerDroppingProxy]:
    proxy = AnswerDroppingProxy(int(platform_server.url.rsplit(":", 1)[1]))
    try:
        yield proxy
    finally:
        proxy.close()


def test_a_batch_whose_answer_was_lost_is_sent_again_and_stored_once(
    lossy_proxy: AnswerDroppingProxy,
) -> None:
    with Client(server_url=f"http://127.0.0.1:{lossy_proxy.port}") as client:
        run = client.create_run("lost-answers")
        for step in range(10_000):
            client.log_metric(run.id, "loss", 1.0 / (step + 1), step=step)
        client.set_terminated(run.id)
        assert lossy_proxy.dropped.is_set()  # an answer really was lost
        history = client.get_metric_history(run.id, "loss")
        stored = client.get_run(run.id)
    assert [m.step for m in history] == list(range(10_000))
    assert stored.status is RunStatus.FINISHED and DROPPED_POINTS_TAG not in stored.tags


def test_points_logged_while_the_server_is_away_for_seconds_are_all_stored(
    platform_server: PlatformServer, server_restarts: PlatformServerRestarts, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    client = Client(server_url=platform_server.url)
    # little room in memory, so the outage's batches go to the disk spool
    limits = BatcherLimits(retry_seconds=120, memory_points=300)
    client.batcher = Batcher(client.metadata, limits=limits, spool_dir=spool, max_batch=100)
    try:
        run = client.create_run("outage")
        for step in range(1000):
            client.log_metric(run.id, "m", float(step), step=step)
        client.flush()
        platform_server.stop()
        for step in range(1000, 3000):
            client.log_metric(run.id, "m", float(step), step=step)
        assert wait_for(lambda: any(spool.rglob("*.json")), timeout=60)  # spilled to disk
        server_restarts.start_again(platform_server)
        client.set_terminated(run.id)  # sends everything that waited
        history = client.get_metric_history(run.id, "m")
        stored = client.get_run(run.id)
    finally:
        client.close()
    assert [m.step for m in history] == list(range(3000))
    assert stored.status is RunStatus.FINISHED and DROPPED_POINTS_TAG not in stored.tags
    assert not any(spool.rglob("*.json"))  # the spool is cleaned up


def test_a_run_that_lost_points_to_a_long_outage_ends_failed_and_says_how_many(
    platform_server: PlatformServer,
    server_restarts: PlatformServerRestarts,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LOOPML_LOG_RETRY_SECONDS", "1")
    # and each send's own retries (30 s by default) as short: the outage outlasts both
    monkeypatch.setenv("LOOPML_RETRY_BUDGET_S", "1")
    client = Client(server_url=platform_server.url)
    try:
        run = client.create_run("long-outage")
        for step in range(100):
            client.log_metric(run.id, "m", float(step), step=step)
        client.flush()
        platform_server.stop()
        for step in range(100, 600):
            client.log_metric(run.id, "m", float(step), step=step)
        with pytest.raises(BackendUnavailableError):
            client.flush()  # the server stayed away longer than the retry budget
        assert client.batcher.dropped(run.id) == 500
        back = server_restarts.start_again(platform_server)
        client.set_terminated(run.id)
        stored = client.get_run(run.id)
        history = client.get_metric_history(run.id, "m")
        shown = cli("runs", "show", run.id, cwd=tmp_path, env={"LOOPML_SERVER_URL": back.url})
    finally:
        client.close()
    assert stored.status is RunStatus.FAILED  # never FINISHED with holes
    assert stored.tags[DROPPED_POINTS_TAG] == "500"
    assert len(history) == 100
    assert shown.returncode == 0, shown.stderr
    assert "FAILED" in shown.stdout
    assert "500 metrics/tags could not be stored" in shown.stdout
    assert f"500 metrics/tags logged to run {run.id} could not be stored" in capsys.readouterr().err


def test_the_server_closes_runs_whose_heartbeat_lapsed(tmp_path: Path) -> None:
    server = start_platform_server(
        tmp_path / "server",
        env={"LOOPML_RUN_GC_INTERVAL_SECONDS": "0.2", "LOOPML_RUN_LAPSE_SECONDS": "1"},
    )
    try:
        assert wait_until_ready(server), server.log()
        store = HttpMetadataStore(server.url)
        try:
            experiment = store.create_experiment("abandoned")
            # created and never heard of again, like a run whose process was SIGKILLed
            run = store.create_run(NewRun(experiment.id, "silent", now_ms()))
            assert wait_for(lambda: store.get_run(run.id).status is RunStatus.KILLED, timeout=60), (
                server.log()
            )
            closed = store.get_run(run.id)
            # the same through the API (what `loopml runs gc` sends to a server)
            other = store.create_run(NewRun(experiment.id, "also silent", now_ms()))
            time.sleep(0.01)
            assert [r.id for r in store.close_lapsed_runs(0)] == [other.id]
            events = store.list_events(max_results=1000).items
        finally:
            store.close()
    finally:
        server.stop()
    assert closed.end_time == closed.heartbeat_at == run.heartbeat_at
    by_target = {(e.target, e.actor): e.payload for e in events if e.action == "run.set_status"}
    assert by_target[(f"run:{run.id}", "loopml-server")]["status"] == "KILLED"
    assert by_target[(f"run:{other.id}", "anonymous")]["reason"] == "lapsed"


@pytest.mark.postgres
def test_a_postgres_outage_behind_the_server_is_a_503_and_loses_nothing(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    import psycopg

    uri = postgres_server.create_database()
    database = uri.rsplit("/", 1)[1]
    server = start_platform_server(tmp_path / "server", store_uri=uri)
    admin = psycopg.connect(
        host=postgres_server.host,
        port=postgres_server.port,
        user=postgres_server.user,
        dbname="postgres",
        autocommit=True,
    )
    client: Client | None = None
    try:
        assert wait_until_ready(server, timeout=120), server.log()
        client = Client(server_url=server.url)
        run = client.create_run("database-outage")
        for step in range(1000):
            client.log_metric(run.id, "m", float(step), step=step)
        client.flush()
        # the database goes away behind the server: no new connections, existing ones cut
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (database,),
        )
        answer = httpx.post(f"{server.url}/api/v1/runs/{run.id}/batch", json={}, timeout=30)
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "backend_unavailable"
        for step in range(1000, 2000):
            client.log_metric(run.id, "m", float(step), step=step)
        time.sleep(3)  # the outage lasts longer than the old 1.5 s of retries
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        client.set_terminated(run.id)
        history = client.get_metric_history(run.id, "m")
        stored = client.get_run(run.id)
    finally:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        admin.close()
        if client is not None:
            client.close()
        server.stop()
    assert [m.step for m in history] == list(range(2000))
    assert stored.status is RunStatus.FINISHED and DROPPED_POINTS_TAG not in stored.tags


def test_the_run_of_a_model_server_heartbeats_while_it_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.monitoring.log_store import SERVER, start_log_run

    monkeypatch.setenv("LOOPML_HEARTBEAT_SECONDS", "0.2")
    store = f"sqlite:///{tmp_path / 'loopml.db'}"
    with Client(store, str(tmp_path / "artifacts")) as client:  # as `loopml serve` opens it
        run = start_log_run(client, model="m", kind=SERVER, name="serve m@champion")
        first = run.heartbeat_at
        assert first is not None
        assert wait_for(lambda: (client.get_run(run.id).heartbeat_at or 0) > first, 60)
        client.set_terminated(run.id)
        assert client.get_run(run.id).status is RunStatus.FINISHED
