"""The hash-chained audit log on real SQLite and PostgreSQL stores: tampering is found at its
position, a change whose event cannot be written is not made, events stored before the chain
existed are chained by the migration, and concurrent writers keep one valid chain."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from loopml.core.audit_chain import GENESIS, chain_hash, entry_text
from loopml.core.entities import RunStatus
from loopml.core.errors import LoopMLError, NotFoundError
from loopml.core.ids import new_id
from loopml.core.loop_records import NewDeployment
from loopml.stores.loop.sql import SqlLoopStore
from loopml.stores.metadata.base import NewRun
from loopml.stores.metadata.sql import SqlMetadataStore
from loopml.stores.metadata.sql.engine import parse_uri
from loopml.stores.metadata.sql.migrate import MIGRATIONS_DIR
from loopml.tracking.audit_log import verify_log


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'loopml.db'}"
    return str(request.getfixturevalue("postgres_uri"))


@pytest.fixture
def raw(uri: str) -> Iterator[sa.Engine]:
    """The database itself, as someone with write access to it (the attacker) sees it."""
    engine = sa.create_engine(parse_uri(uri))
    yield engine
    engine.dispose()


def _five_changes(store: SqlMetadataStore) -> None:
    experiment = store.create_experiment("audited")
    run = store.create_run(NewRun(experiment.id, "r", 1))
    store.log_batch(run.id, batch_id="b1")
    store.set_run_status(run.id, RunStatus.FINISHED, None)
    store.create_experiment("second")


def _tampered(raw: sa.Engine, *statements: str, **params: Any) -> None:
    with raw.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement), params)


def test_edited_deleted_inserted_and_reordered_entries_are_found(uri: str, raw: sa.Engine) -> None:
    with SqlMetadataStore(uri) as store:
        _five_changes(store)
        intact = verify_log(store)
        assert intact.ok and intact.entries == 5
        assert {e.actor for e in store.list_events().items} == {_local_actor()}
        with raw.connect() as conn:
            saved = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM events"))]

        def restore() -> None:
            with raw.begin() as conn:
                conn.execute(sa.text("DELETE FROM events"))
                conn.execute(sa.table("events", *map(sa.column, saved[0])).insert(), saved)
            assert verify_log(store).ok

        _tampered(raw, 'UPDATE events SET payload = \'{"name":"forged"}\' WHERE seq = 3')
        found = verify_log(store)
        assert (found.ok, found.first_bad) == (False, 3) and "edited" in found.problem
        restore()

        _tampered(raw, "DELETE FROM events WHERE seq = 3")
        assert verify_log(store).first_bad == 3
        _tampered(raw, "UPDATE events SET seq = seq - 1 WHERE seq > 3")  # the gap hidden
        assert verify_log(store).first_bad == 3
        restore()

        # a well-formed entry slipped in after position 2: its successor no longer links
        second = next(row for row in saved if row["seq"] == 2)
        text = entry_text(3, 1, "local:mallory", "model.approve", "model:x", "", "", "", "{}")
        _tampered(
            raw,
            "UPDATE events SET seq = seq + 1000 WHERE seq >= 3",
            "UPDATE events SET seq = seq - 999 WHERE seq >= 1000",
            "INSERT INTO events (timestamp, actor, action, target, payload, seq, request_id, "
            "before_digest, after_digest, prev_hash, hash) VALUES (1, 'local:mallory', "
            "'model.approve', 'model:x', '{}', 3, '', '', '', :prev, :hash)",
            prev=second["hash"],
            hash=chain_hash(second["hash"], text),
        )
        assert verify_log(store).first_bad == 4
        restore()

        _tampered(
            raw,
            "UPDATE events SET seq = 1000 WHERE seq = 2",
            "UPDATE events SET seq = 2 WHERE seq = 3",
            "UPDATE events SET seq = 3 WHERE seq = 1000",
        )
        assert verify_log(store).first_bad == 2


def _refuse_events(raw: sa.Engine) -> None:
    if raw.dialect.name == "sqlite":
        _tampered(
            raw,
            "CREATE TRIGGER refuse_events BEFORE INSERT ON events "
            "BEGIN SELECT RAISE(ABORT, 'events refused'); END",
        )
        return
    _tampered(
        raw,
        "CREATE FUNCTION refuse_events() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'events refused'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_events BEFORE INSERT ON events "
        "FOR EACH ROW EXECUTE FUNCTION refuse_events()",
    )


def test_a_change_whose_event_cannot_be_written_is_not_made(uri: str, raw: sa.Engine) -> None:
    with SqlMetadataStore(uri) as store:
        experiment = store.create_experiment("kept")
        loop = SqlLoopStore(uri)
        try:
            _refuse_events(raw)
            with pytest.raises(LoopMLError, match="events refused"):
                store.create_experiment("refused")
            assert store.get_experiment_by_name("refused") is None
            run_id = new_id()
            with pytest.raises(LoopMLError, match="events refused"):
                store.create_run(NewRun(experiment.id, "r", 1, run_id=run_id))
            with pytest.raises(NotFoundError):
                store.get_run(run_id)
            deployment = NewDeployment(new_id(), "churn", "http://127.0.0.1:8080", 30_000)
            with pytest.raises(LoopMLError, match="events refused"):
                loop.register_deployment(deployment)
            assert loop.list_deployments().items == []
            with pytest.raises(LoopMLError, match="events refused"):
                loop.acquire_lease("retrain:churn", "agent", 60_000)
            assert loop.get_lease("retrain:churn") is None
        finally:
            loop.close()
        assert verify_log(store).entries == 1


def test_events_stored_before_the_chain_are_chained_by_the_migration(
    uri: str, raw: sa.Engine
) -> None:
    from alembic import command
    from alembic.config import Config

    with raw.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = conn
        command.upgrade(config, "0010")
        for i in range(7):
            conn.execute(
                sa.text(
                    "INSERT INTO events (timestamp, actor, action, target, payload) "
                    "VALUES (:t, 'anonymous', 'run.create', :target, :payload)"
                ),
                {"t": 1000 + i, "target": f"run:{i}", "payload": f'{{"n": {i}, "a": "é"}}'},
            )
    with SqlMetadataStore(uri) as store:
        report = verify_log(store)
        assert report.ok and report.entries == 7
        events = store.list_events().items
        assert [e.seq for e in events] == list(range(1, 8))
        assert events[0].prev_hash == GENESIS and events[3].payload == {"n": 3, "a": "é"}
        store.create_experiment("after the upgrade")
        assert verify_log(store).entries == 8


def _append_from_threads(uri: str, prefix: str, per_thread: int = 15) -> None:
    with SqlMetadataStore(uri) as store:

        def work(thread: int) -> None:
            for i in range(per_thread):
                store.create_experiment(f"{prefix}-{thread}-{i}")

        threads = [threading.Thread(target=work, args=(t,)) for t in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def test_concurrent_appends_from_processes_and_threads_keep_one_valid_chain(uri: str) -> None:
    SqlMetadataStore(uri).close()  # migrated once, before the writers race
    spawn = multiprocessing.get_context("spawn")
    workers = [spawn.Process(target=_append_from_threads, args=(uri, f"p{n}")) for n in range(2)]
    for worker in workers:
        worker.start()
    _append_from_threads(uri, "main")
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    with SqlMetadataStore(uri) as store:
        report = verify_log(store)
        assert report.ok, report.problem
        assert report.entries == 3 * 2 * 15


def _local_actor() -> str:
    from loopml.stores.metadata.sql.event_store import local_actor

    return local_actor()
