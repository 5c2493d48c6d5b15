"""How a new run's experiment is found by name: created only where the caller may, and never
for a request that fails its checks (a real SQLite store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.core.errors import InvalidInputError, PermissionDeniedError
from loopml.stores.metadata.base import NewRun
from loopml.stores.metadata.new_runs import checked_new_run, resolve_experiment
from loopml.stores.metadata.sql import SqlMetadataStore

START = 1_700_000_000_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlMetadataStore]:
    with SqlMetadataStore(f"sqlite:///{tmp_path / 'loopml.db'}") as opened:
        yield opened


def test_a_caller_that_may_not_create_experiments_can_only_name_existing_ones(
    store: SqlMetadataStore,
) -> None:
    with pytest.raises(PermissionDeniedError, match="experiments:write"):
        resolve_experiment(store, NewRun(None, "r", START, experiment_name="new"), may_create=False)
    assert store.get_experiment_by_name("new") is None
    existing = store.create_experiment("old")
    by_id, created = resolve_experiment(
        store, NewRun(None, "r", START, experiment_name="old"), may_create=False
    )
    assert (by_id.experiment_id, by_id.experiment_name, created) == (existing.id, None, None)


def test_resolving_a_new_name_reports_the_experiment_it_created_once(
    store: SqlMetadataStore,
) -> None:
    named = NewRun(None, "r", START, experiment_name="fresh")
    first, created = resolve_experiment(store, named)
    again, created_again = resolve_experiment(store, named)
    assert created is not None and created.name == "fresh" and created_again is None
    assert first.experiment_id == again.experiment_id == created.id


@pytest.mark.parametrize(
    ("new_run", "field"),
    [
        (NewRun(None, "r", -1, experiment_name="e"), "start_time"),
        (NewRun(None, "", START, experiment_name="e"), "run"),
        (NewRun(None, "r", START, parent_run_id="", experiment_name="e"), "run id"),
        (NewRun("", "r", START), "experiment id"),
    ],
)
def test_a_new_run_is_checked_field_by_field(new_run: NewRun, field: str) -> None:
    with pytest.raises(InvalidInputError, match=field):
        checked_new_run(new_run)
