"""The runs slice of the metadata store: runs, their params, metrics and tags (written in
batches), heartbeats and search; :class:`NewRun` and :class:`RunQuery`, what a new run and a
search ask for; :class:`MetricSeries`, a metric's history thinned for a chart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from loopml.core.entities import Metric, Page, Param, Run, RunStatus, Tag
from loopml.core.errors import InvalidInputError
from loopml.stores.metadata.event_store import NewEvent
from loopml.stores.metadata.pages import DEFAULT_MAX_RESULTS


@dataclass(frozen=True)
class NewRun:
    """What a new run starts with. ``run_id`` may be preset (idempotent retries).

    The experiment is named by its id, or by ``experiment_name`` (with ``experiment_id``
    None): the experiment of that name, created if there is none yet (see
    :func:`~loopml.stores.metadata.experiment_names.run_experiment`).
    """

    experiment_id: str | None
    name: str
    start_time: int
    parent_run_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    run_id: str | None = None
    experiment_name: str | None = None


EventOf = Callable[[Run], NewEvent]
"""The event of one run a write changed, for writes that find their runs themselves."""


@dataclass(frozen=True)
class RunQuery:
    """A run search. ``filter`` uses the language of :mod:`loopml.core.filters`."""

    experiment_ids: Sequence[str] = ()
    filter: str | None = None
    order_by: Sequence[str] = ()
    max_results: int = DEFAULT_MAX_RESULTS
    page_token: str | None = None
    parent_run_id: str | None = None


MIN_SERIES_POINTS = 2  # the first and the last point
MAX_SERIES_POINTS = 10_000


@dataclass(frozen=True)
class MetricSeries:
    """A metric's history with at most a requested number of points, ordered by step then
    timestamp: the whole history when it is that short (``downsampled`` False), else its
    first and last points and, per bucket of steps, the lowest and highest value (so a spike
    survives the thinning). ``total`` is the number of points in the whole history."""

    key: str
    total: int
    downsampled: bool
    points: tuple[Metric, ...]


def check_series_points(max_points: object) -> int:
    """``max_points`` of :meth:`RunStore.get_metric_series`, checked."""
    if (
        isinstance(max_points, bool)
        or not isinstance(max_points, int)
        or not MIN_SERIES_POINTS <= max_points <= MAX_SERIES_POINTS
    ):
        raise InvalidInputError(
            f"max_points must be an integer from {MIN_SERIES_POINTS} to {MAX_SERIES_POINTS}, "
            f"got {max_points!r}."
        )
    return max_points


class RunStore(Protocol):
    """Runs: created (with their experiment's name, if need be), ended, deleted, logged to in
    batches, kept alive by heartbeats, closed when they went silent, searched."""

    def create_run(self, new_run: NewRun, *, event: NewEvent | None = None) -> Run:
        """Insert a RUNNING run. Unknown experiment or parent → :class:`NotFoundError`. A
        preset ``run_id`` the store has in the same experiment returns that run (a retried
        create), without ``event``."""
        ...

    def get_run(self, run_id: str) -> Run: ...

    def set_run_status(
        self,
        run_id: str,
        status: RunStatus,
        end_time: int | None,
        *,
        event: NewEvent | None = None,
    ) -> None:
        """Move a run to ``status``; ``end_time`` is set for terminal states (now if None)
        and cleared for RUNNING."""
        ...

    def delete_run(self, run_id: str, *, event: NewEvent | None = None) -> None:
        """Delete a run and everything logged to it, including its child runs."""
        ...

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[Tag] = (),
        batch_id: str | None = None,
        event: NewEvent | None = None,
    ) -> None:
        """Write all or nothing. A param re-set to a different value → :class:`ConflictError`
        naming both values; the same value again is a no-op. Tags overwrite. ``batch_id``
        (1-64 letters, digits, ``_``, ``-``), recorded in the same transaction, makes the
        write idempotent: a batch id the run already has is a no-op success, so a client
        may send a batch again when its answer was lost (and ``event`` is not appended
        again). Also marks a RUNNING run alive
        (see :meth:`heartbeat_run`)."""
        ...

    def heartbeat_run(self, run_id: str) -> None:
        """Mark a RUNNING run alive now (``Run.heartbeat_at``, the store's clock); an ended
        run is left as it is. Unknown run → :class:`NotFoundError`."""
        ...

    def close_lapsed_runs(
        self, lapsed_for_ms: int, *, dry_run: bool = False, event_of: EventOf | None = None
    ) -> list[Run]:
        """End as KILLED, with the last heartbeat as end time, every RUNNING run whose
        heartbeat is older than ``lapsed_for_ms`` (its process died without ending it), and
        return them as closed, ordered by id; ``dry_run`` only lists them. Runs that never
        had a heartbeat (logged before heartbeats existed) are left alone. ``event_of`` gives
        the event of each run closed."""
        ...

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every value logged for ``key``, ordered by step then timestamp."""
        ...

    def get_metric_series(self, run_id: str, key: str, *, max_points: int) -> MetricSeries:
        """``key``'s history in at most ``max_points`` points (2 to
        :data:`MAX_SERIES_POINTS`), thinned by the store so a long history never travels
        whole (see :class:`MetricSeries`). Unknown run → :class:`NotFoundError`; an unknown
        key is an empty series."""
        ...

    def search_runs(self, query: RunQuery) -> Page[Run]:
        """Runs matching ``query``; default order: newest start_time first."""
        ...
