"""``loopml.start_run``: the notebook-friendly way to log a run.

Runs nest: a ``start_run`` inside another becomes its child and shares its client. The
"current run" is a :mod:`contextvars` variable; library code reads it in one place,
:func:`~loopml.tracking.client.client_scope`, so that calls made inside a run without a
client (``loopml.data.get`` in a pipeline step) use the run's stores.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from loopml.core.entities import Run
from loopml.tracking.active_run import ActiveRun
from loopml.tracking.client import DEFAULT_EXPERIMENT, Client

_current: contextvars.ContextVar[ActiveRun | None] = contextvars.ContextVar(
    "loopml_current_run", default=None
)


def active_run() -> ActiveRun | None:
    """The innermost run started with ``start_run`` in this context, if any."""
    return _current.get()


@contextmanager
def start_run(
    experiment: str | None = None,
    params: Mapping[str, object] | None = None,
    name: str | None = None,
    *,
    tags: Mapping[str, str] | None = None,
    nested: bool = True,
    client: Client | None = None,
) -> Iterator[ActiveRun]:
    """Start a run, yield it, and end it FINISHED (or FAILED if the block raises).

    >>> with loopml.start_run(experiment="iris", params={"C": 1.0}) as run:  # doctest: +SKIP
    ...     run.log_metric("accuracy", 0.97)
    """
    parent = _current.get() if nested else None
    owns = client is None and parent is None
    chosen = client or (parent.client if parent else Client())
    try:
        experiment_name = experiment or _experiment_name(chosen, parent)
        run = chosen.create_run(
            experiment_name, name=name, parent_run_id=parent.id if parent else None, tags=tags
        )
        active = ActiveRun(chosen, run, owns_client=owns)
    except BaseException:
        if owns:
            chosen.close()
        raise
    token = _current.set(active)
    try:
        with active:
            if params:
                active.log_params(params)
            yield active
    finally:
        _current.reset(token)


@contextmanager
def attached_run(client: Client, run: Run | str) -> Iterator[ActiveRun]:
    """Make the open run ``run`` (or the run with that id) the current run in this block,
    without ending it: how a pipeline step running in a worker logs to the run its driver
    opened (and will end)."""
    found = client.get_run(run) if isinstance(run, str) else run
    active = ActiveRun(client, found, end_at_exit=False)
    token = _current.set(active)
    try:
        yield active
    finally:
        _current.reset(token)
        client.flush()


def _experiment_name(client: Client, parent: ActiveRun | None) -> str:
    if parent is None:
        return DEFAULT_EXPERIMENT
    return client.metadata.get_experiment(parent.experiment_id).name
