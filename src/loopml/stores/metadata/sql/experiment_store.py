"""Experiments: the experiments slice of
:class:`~loopml.stores.metadata.sql.store.SqlMetadataStore`.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from loopml.core.entities import Experiment, Page
from loopml.core.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from loopml.core.ids import new_id, now_ms
from loopml.core.validation import validate_name
from loopml.stores.metadata.event_store import NewEvent
from loopml.stores.metadata.pages import DEFAULT_MAX_RESULTS
from loopml.stores.metadata.sql import paging
from loopml.stores.metadata.sql.connections import SqlStoreBase
from loopml.stores.metadata.sql.event_store import audited, insert_event
from loopml.stores.metadata.sql.reads import load_experiments
from loopml.stores.metadata.sql.schema import experiment_tags, experiments
from loopml.stores.metadata.sql.writes import check_id, check_tags


class SqlExperimentStore(SqlStoreBase):
    """Experiments on SQLite or PostgreSQL."""

    def create_experiment(
        self,
        name: str,
        tags: Mapping[str, str] | None = None,
        *,
        event: NewEvent | None = None,
    ) -> Experiment:
        name = validate_name("experiment", name)
        tag_values = check_tags(tags or {})
        experiment = Experiment(new_id(), name, now_ms(), tag_values)
        taken = AlreadyExistsError(
            f"An experiment named {name!r} already exists; pick another name, or look it up "
            "with get_experiment_by_name."
        )
        with self._write() as conn:
            if conn.execute(sa.select(experiments.c.id).where(experiments.c.name == name)).first():
                raise taken
            try:
                conn.execute(
                    sa.insert(experiments).values(
                        id=experiment.id, name=name, created_at=experiment.created_at
                    )
                )
            except sa.exc.IntegrityError as exc:  # created concurrently (PostgreSQL)
                raise taken from exc
            if tag_values:
                conn.execute(
                    sa.insert(experiment_tags),
                    [
                        {"experiment_id": experiment.id, "key": k, "value": v}
                        for k, v in tag_values.items()
                    ],
                )
            target = f"experiment:{experiment.id}"
            insert_event(conn, audited(event, "experiment.create", target, {"name": name}))
        return experiment

    def get_experiment(self, experiment_id: str) -> Experiment:
        check_id("experiment", experiment_id)
        with self._read() as conn:
            row = conn.execute(
                sa.select(experiments).where(experiments.c.id == experiment_id)
            ).first()
            if row is None:
                raise NotFoundError(f"No experiment with id {experiment_id!r}.")
            return load_experiments(conn, [row])[0]

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        if not isinstance(name, str):
            raise InvalidInputError(f"The experiment name must be a string, got {name!r}.")
        with self._read() as conn:
            row = conn.execute(sa.select(experiments).where(experiments.c.name == name)).first()
            return None if row is None else load_experiments(conn, [row])[0]

    def list_experiments(
        self, *, max_results: int = DEFAULT_MAX_RESULTS, page_token: str | None = None
    ) -> Page[Experiment]:
        limit = paging.check_max_results(max_results)
        offset = paging.decode_token(page_token, "experiments")
        query = (
            sa.select(experiments)
            .order_by(experiments.c.created_at, experiments.c.name)
            .limit(limit + 1)
            .offset(offset)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
            items = load_experiments(conn, rows[:limit])
        more = len(rows) > limit
        return Page(items, paging.encode_token("experiments", offset + limit) if more else None)
