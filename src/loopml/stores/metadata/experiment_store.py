"""The experiments slice of the metadata store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from loopml.core.entities import Experiment, Page
from loopml.stores.metadata.event_store import NewEvent
from loopml.stores.metadata.pages import DEFAULT_MAX_RESULTS


class ExperimentStore(Protocol):
    """Experiments: created, found by id or name, listed."""

    def create_experiment(
        self,
        name: str,
        tags: Mapping[str, str] | None = None,
        *,
        event: NewEvent | None = None,
    ) -> Experiment:
        """Create an experiment; :class:`AlreadyExistsError` if the name is taken."""
        ...

    def get_experiment(self, experiment_id: str) -> Experiment:
        """:class:`NotFoundError` if there is no such experiment."""
        ...

    def get_experiment_by_name(self, name: str) -> Experiment | None: ...

    def list_experiments(
        self, *, max_results: int = DEFAULT_MAX_RESULTS, page_token: str | None = None
    ) -> Page[Experiment]:
        """Experiments ordered by creation time, oldest first."""
        ...
