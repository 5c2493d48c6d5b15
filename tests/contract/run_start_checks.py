"""Contract checks for starting a run by its experiment's name (created if needed), every
backend: sqlite, postgres and remote (``POST /runs`` with ``experiment_name``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from loopml.core.errors import InvalidInputError
from loopml.core.ids import new_id
from loopml.stores.metadata.base import MetadataStore, NewRun, RunQuery

StoreCheck = Callable[[MetadataStore], None]
START = 1_700_000_000_000


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _named(experiment: str, name: str = "run", **fields: object) -> NewRun:
    return NewRun(None, name, START, experiment_name=experiment, **fields)  # type: ignore[arg-type]


def check_a_run_named_by_experiment_name_creates_the_experiment_once(
    store: MetadataStore,
) -> None:
    experiment = _unique("exp")
    first = store.create_run(_named(experiment, "first"))
    second = store.create_run(_named(experiment, "second"))
    found = store.get_experiment_by_name(experiment)
    assert found is not None
    assert first.experiment_id == second.experiment_id == found.id
    assert store.get_run(first.id).experiment_id == found.id
    runs = store.search_runs(RunQuery(experiment_ids=[found.id])).items
    assert sorted(run.name for run in runs) == ["first", "second"]


def check_a_run_named_by_an_existing_experiment_name_goes_there(store: MetadataStore) -> None:
    existing = store.create_experiment(_unique("exp"))
    run = store.create_run(_named(existing.name, tags={"k": "v"}))
    assert run.experiment_id == existing.id and run.tags == {"k": "v"}


def check_a_retried_named_start_with_a_preset_id_makes_one_run(store: MetadataStore) -> None:
    experiment, run_id = _unique("exp"), new_id()
    first = store.create_run(_named(experiment, run_id=run_id))
    again = store.create_run(_named(experiment, run_id=run_id))
    assert again.id == first.id == run_id and again.experiment_id == first.experiment_id
    runs = store.search_runs(RunQuery(experiment_ids=[first.experiment_id])).items
    assert [run.id for run in runs] == [run_id]


def check_a_new_run_names_its_experiment_exactly_once(store: MetadataStore) -> None:
    existing = store.create_experiment(_unique("exp"))
    both = NewRun(existing.id, "run", START, experiment_name=existing.name)
    with pytest.raises(InvalidInputError, match="experiment_id or experiment_name"):
        store.create_run(both)
    with pytest.raises(InvalidInputError, match="experiment_id or experiment_name"):
        store.create_run(NewRun(None, "run", START))


def check_a_bad_run_named_by_a_new_experiment_creates_nothing(store: MetadataStore) -> None:
    experiment = _unique("exp")
    with pytest.raises(InvalidInputError, match="tag"):
        store.create_run(_named(experiment, tags={"bad key!": "v"}))
    with pytest.raises(InvalidInputError, match="run id"):
        store.create_run(_named(experiment, run_id="no/slashes"))
    with pytest.raises(InvalidInputError, match="experiment"):
        store.create_run(_named(""))
    assert store.get_experiment_by_name(experiment) is None


def run_start_checks() -> list[StoreCheck]:
    """Every check, in a stable order (the names say the behaviour)."""
    return [
        value for name, value in globals().items() if name.startswith("check_") and callable(value)
    ]
