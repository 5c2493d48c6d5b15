"""A new run's request checked, and its experiment found by name (created if there is none
yet): the rules behind ``Client.create_run``, every store's ``create_run`` and ``POST /runs``.

Experiments are never renamed or deleted, so a name once resolved stays valid.
"""

from __future__ import annotations

from dataclasses import replace

from loopml.core.entities import Experiment
from loopml.core.errors import AlreadyExistsError, InvalidInputError, PermissionDeniedError
from loopml.core.validation import validate_name
from loopml.stores.metadata.checks import check_id, check_new_run_id, check_tags, check_time
from loopml.stores.metadata.event_store import NewEvent
from loopml.stores.metadata.experiment_store import ExperimentStore
from loopml.stores.metadata.run_store import NewRun


def checked_new_run(new_run: NewRun) -> NewRun:
    """``new_run`` with every field checked, its experiment named by id or by name (exactly
    one), before anything is written."""
    if (new_run.experiment_id is None) == (new_run.experiment_name is None):
        raise InvalidInputError(
            "A new run names its experiment once: give experiment_id or experiment_name, not "
            f"both or neither (got {new_run.experiment_id!r} and {new_run.experiment_name!r})."
        )
    return replace(
        new_run,
        experiment_id=(
            None if new_run.experiment_id is None else check_id("experiment", new_run.experiment_id)
        ),
        experiment_name=(
            None
            if new_run.experiment_name is None
            else validate_name("experiment", new_run.experiment_name)
        ),
        name=validate_name("run", new_run.name),
        start_time=check_time("start_time", new_run.start_time),
        parent_run_id=(
            None if new_run.parent_run_id is None else check_id("run", new_run.parent_run_id)
        ),
        tags=check_tags(new_run.tags),
        run_id=None if new_run.run_id is None else check_new_run_id(new_run.run_id),
    )


def get_or_create_experiment(
    store: ExperimentStore, name: str, *, event: NewEvent | None = None
) -> tuple[Experiment, bool]:
    """The experiment called ``name`` and whether this call created it (recording ``event``,
    see :class:`NewEvent`)."""
    name = validate_name("experiment", name)
    found = store.get_experiment_by_name(name)
    if found is not None:
        return found, False
    try:
        return store.create_experiment(name, event=event), True
    except AlreadyExistsError:  # another process created it first
        found = store.get_experiment_by_name(name)
        if found is None:
            raise
        return found, False


def resolve_experiment(
    store: ExperimentStore,
    new_run: NewRun,
    *,
    may_create: bool = True,
    event: NewEvent | None = None,
) -> tuple[NewRun, Experiment | None]:
    """``new_run`` checked and naming its experiment by id, and the experiment if finding it
    by name created it (only if ``may_create``, else :class:`PermissionDeniedError`). Bad
    input fails before an experiment is created."""
    checked = checked_new_run(new_run)
    if checked.experiment_name is None:
        return checked, None
    if not may_create:
        found = store.get_experiment_by_name(checked.experiment_name)
        if found is None:
            raise PermissionDeniedError(
                f"There is no experiment named {checked.experiment_name!r}, and creating one "
                "needs the permission 'experiments:write'; ask an admin, or name an existing one."
            )
        return replace(checked, experiment_id=found.id, experiment_name=None), None
    experiment, created = get_or_create_experiment(store, checked.experiment_name, event=event)
    by_id = replace(checked, experiment_id=experiment.id, experiment_name=None)
    return by_id, experiment if created else None
