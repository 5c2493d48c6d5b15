"""A run's change and its event are one write: the SQL stores append the event handed to a run
write in the same transaction (a failing event write leaves no run behind; a retried write that
changes nothing appends no event), and the remote client refuses one (its server records its
own, see ``tests/integration/test_run_route_events.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from loopml.core.entities import Metric, RunStatus
from loopml.core.errors import InvalidInputError, LoopMLError, NotFoundError
from loopml.core.ids import new_id
from loopml.stores.metadata.base import MetadataStore, NewEvent, NewRun
from loopml.stores.registry import open_metadata_store
from tests.contract.metadata_check_data import new_experiment, new_run, unique_name

SQL_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=SQL_BACKENDS)
def sql_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_uri"))
    return f"sqlite:///{tmp_path / 'loopml.db'}"


@pytest.fixture
def store(sql_uri: str) -> Iterator[MetadataStore]:
    opened = open_metadata_store(sql_uri)
    try:
        yield opened
    finally:
        opened.close()


def _events_of(store: MetadataStore, target: str) -> list[tuple[str, str, dict[str, object]]]:
    listed = store.list_events(max_results=50_000).items
    return [(e.actor, e.action, dict(e.payload)) for e in listed if e.target == target]


def _refuse_events(uri: str) -> None:
    """Make every event insert fail in the database itself, as a full disk or a lost
    connection would fail it halfway through the write."""
    engine = sa.create_engine(uri.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_events BEFORE INSERT ON events "
                "BEGIN SELECT RAISE(ABORT, 'events refused'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse_event() RETURNS trigger AS $$ "
                "BEGIN RAISE EXCEPTION 'events refused'; END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_events BEFORE INSERT ON events "
                "FOR EACH ROW EXECUTE FUNCTION refuse_event()"
            )
    engine.dispose()


def test_each_run_write_appends_its_event(store: MetadataStore) -> None:
    experiment_id = new_experiment(store)
    run_id = new_id()
    target = f"run:{run_id}"
    created = NewEvent("ana", "run.create", target, {"name": "r"})
    store.create_run(NewRun(experiment_id, "r", 1, run_id=run_id), event=created)
    batch = NewEvent("ana", "run.log_batch", target, {"metrics": 1})
    store.log_batch(run_id, metrics=[Metric("m", 1.0, 0, 1)], event=batch)
    ended = NewEvent("ana", "run.set_status", target, {"status": "FINISHED"})
    store.set_run_status(run_id, RunStatus.FINISHED, 5, event=ended)
    store.delete_run(run_id, event=NewEvent("ana", "run.delete", target))
    assert _events_of(store, target) == [
        ("ana", "run.create", {"name": "r"}),
        ("ana", "run.log_batch", {"metrics": 1}),
        ("ana", "run.set_status", {"status": "FINISHED"}),
        ("ana", "run.delete", {}),
    ]


def test_a_retried_write_that_changes_nothing_appends_no_second_event(
    store: MetadataStore,
) -> None:
    experiment_id = new_experiment(store)
    run_id = new_id()
    target = f"run:{run_id}"
    for _ in range(2):  # the second create is a retry: it returns the run it made
        store.create_run(
            NewRun(experiment_id, "r", 1, run_id=run_id),
            event=NewEvent("ana", "run.create", target),
        )
        store.log_batch(
            run_id,
            metrics=[Metric("m", 1.0, 0, 1)],
            batch_id="b1",
            event=NewEvent("ana", "run.log_batch", target),
        )
    assert [action for _, action, _ in _events_of(store, target)] == [
        "run.create",
        "run.log_batch",
    ]


def test_a_failed_write_appends_no_event(store: MetadataStore) -> None:
    target = f"run:{new_id()}"
    with pytest.raises(NotFoundError):
        store.set_run_status(
            target.removeprefix("run:"),
            RunStatus.FINISHED,
            None,
            event=NewEvent("ana", "run.set_status", target),
        )
    assert _events_of(store, target) == []


def test_a_bad_event_fails_the_write_before_anything_is_written(store: MetadataStore) -> None:
    experiment_id = new_experiment(store)
    run_id = new_id()
    with pytest.raises(InvalidInputError, match="payload"):
        store.create_run(
            NewRun(experiment_id, "r", 1, run_id=run_id),
            event=NewEvent("ana", "run.create", f"run:{run_id}", {"bad": float("nan")}),
        )
    with pytest.raises(NotFoundError):
        store.get_run(run_id)


def test_an_event_the_database_refuses_rolls_the_change_back(
    store: MetadataStore, sql_uri: str
) -> None:
    experiment_id = new_experiment(store)
    ended_id = new_run(store, experiment_id).id
    _refuse_events(sql_uri)
    run_id = new_id()
    with pytest.raises(LoopMLError):
        store.create_run(
            NewRun(experiment_id, "r", 1, run_id=run_id),
            event=NewEvent("ana", "run.create", f"run:{run_id}"),
        )
    with pytest.raises(NotFoundError):
        store.get_run(run_id)
    with pytest.raises(LoopMLError):
        store.set_run_status(
            ended_id, RunStatus.FAILED, 5, event=NewEvent("ana", "run.set_status", "run:x")
        )
    assert store.get_run(ended_id).status == RunStatus.RUNNING


def test_closing_lapsed_runs_appends_each_closure_in_the_same_write(store: MetadataStore) -> None:
    experiment_id = new_experiment(store)
    run = new_run(store, experiment_id, unique_name("lapsed"))
    closed = store.close_lapsed_runs(
        0, event_of=lambda r: NewEvent("gc", "run.set_status", f"run:{r.id}", {"n": 1})
    )
    assert run.id in {r.id for r in closed}
    # the run's start, embedded, is recorded as the OS user's; its closure as given
    assert _events_of(store, f"run:{run.id}")[1:] == [("gc", "run.set_status", {"n": 1})]


def test_the_remote_client_refuses_an_event(shared_platform_server_url: str) -> None:
    remote = open_metadata_store(shared_platform_server_url)
    try:
        with pytest.raises(InvalidInputError, match="server records"):
            remote.delete_run(new_id(), event=NewEvent("ana", "run.delete", "run:x"))
    finally:
        remote.close()
