"""Pydantic models at the HTTP boundary; the entities stay frozen dataclasses inside.

Request models are strict (a string is not silently turned into a number) and refuse unknown
fields, so a mistyped request fails with a 400 naming the field. Deeper checks (key syntax,
lengths, artifact paths) are the store's, so embedded and remote callers get the same errors.
Floats that may be NaN or infinite travel as the strings of :mod:`loopml.stores.remote.wire`.
This module holds the experiments, runs, artifacts, events and service models; the datasets'
and lineage's are in :mod:`.dataset_schemas`, the model registry's in :mod:`.registry_schemas`,
what they are all built on in :mod:`.schema_base`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from loopml.core.entities import (
    ArtifactEntry,
    ArtifactListing,
    Event,
    Experiment,
    Metric,
    Page,
    Run,
    RunStatus,
)
from loopml.server.schema_base import JsonFloat, LooseRunStatus
from loopml.server.schema_base import RequestModel as _Request
from loopml.server.schema_base import ResponseModel as _Response
from loopml.stores.metadata.base import DEFAULT_MAX_RESULTS, NewRun, RunQuery
from loopml.stores.metadata.run_store import MetricSeries


# experiments
class ExperimentCreate(_Request):
    name: str
    tags: dict[str, str] | None = None


class ExperimentOut(_Response):
    id: str
    name: str
    created_at: int
    tags: dict[str, str]

    @classmethod
    def of(cls, experiment: Experiment) -> ExperimentOut:
        return cls(
            id=experiment.id,
            name=experiment.name,
            created_at=experiment.created_at,
            tags=dict(experiment.tags),
        )


class ExperimentPage(_Response):
    items: list[ExperimentOut]
    next_page_token: str | None = None

    @classmethod
    def of(cls, page: Page[Experiment]) -> ExperimentPage:
        return cls(
            items=[ExperimentOut.of(e) for e in page.items], next_page_token=page.next_page_token
        )


# runs
class RunCreate(_Request):
    """A new run; its experiment by id, or by name (created if there is none yet)."""

    experiment_id: str | None = None
    experiment_name: str | None = None
    name: str
    start_time: int
    parent_run_id: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    run_id: str | None = None

    def to_new_run(self) -> NewRun:
        return NewRun(
            experiment_id=self.experiment_id,
            name=self.name,
            start_time=self.start_time,
            parent_run_id=self.parent_run_id,
            tags=self.tags,
            run_id=self.run_id,
            experiment_name=self.experiment_name,
        )


class RunOut(_Response):
    id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None
    parent_run_id: str | None
    params: dict[str, str]
    metrics: dict[str, JsonFloat]
    tags: dict[str, str]
    heartbeat_at: int | None = None

    @classmethod
    def of(cls, run: Run) -> RunOut:
        return cls(
            id=run.id,
            experiment_id=run.experiment_id,
            name=run.name,
            status=run.status,
            start_time=run.start_time,
            end_time=run.end_time,
            parent_run_id=run.parent_run_id,
            params=dict(run.params),
            metrics=dict(run.metrics),
            tags=dict(run.tags),
            heartbeat_at=run.heartbeat_at,
        )


class RunPage(_Response):
    items: list[RunOut]
    next_page_token: str | None = None

    @classmethod
    def of(cls, page: Page[Run]) -> RunPage:
        return cls(items=[RunOut.of(r) for r in page.items], next_page_token=page.next_page_token)


class RunStatusUpdate(_Request):
    status: LooseRunStatus
    end_time: int | None = None


class MetricIn(_Request):
    key: str
    value: JsonFloat
    step: int
    timestamp: int

    def to_entity(self) -> Metric:
        return Metric(key=self.key, value=self.value, step=self.step, timestamp=self.timestamp)


class KeyValue(_Request):
    key: str
    value: str


class LogBatch(_Request):
    metrics: list[MetricIn] = Field(default_factory=list)
    params: list[KeyValue] = Field(default_factory=list)
    tags: list[KeyValue] = Field(default_factory=list)
    # the client's id of this batch: the same id again is stored once (see log_batch)
    batch_id: str | None = None


class CloseLapsedRuns(_Request):
    lapsed_for_ms: int
    dry_run: bool = False


class RunList(_Response):
    items: list[RunOut]


class MetricOut(_Response):
    key: str
    value: JsonFloat
    step: int
    timestamp: int

    @classmethod
    def of(cls, metric: Metric) -> MetricOut:
        return cls(key=metric.key, value=metric.value, step=metric.step, timestamp=metric.timestamp)


class MetricHistory(_Response):
    items: list[MetricOut]


class MetricSeriesOut(_Response):
    key: str
    total: int  # points in the whole history
    downsampled: bool
    items: list[MetricOut]

    @classmethod
    def of(cls, series: MetricSeries) -> MetricSeriesOut:
        items = [MetricOut.of(metric) for metric in series.points]
        return cls(key=series.key, total=series.total, downsampled=series.downsampled, items=items)


class RunSearch(_Request):
    experiment_ids: list[str] = Field(default_factory=list)
    filter: str | None = None
    order_by: list[str] = Field(default_factory=list)
    max_results: int = DEFAULT_MAX_RESULTS
    page_token: str | None = None
    parent_run_id: str | None = None

    def to_query(self) -> RunQuery:
        return RunQuery(
            experiment_ids=self.experiment_ids,
            filter=self.filter,
            order_by=self.order_by,
            max_results=self.max_results,
            page_token=self.page_token,
            parent_run_id=self.parent_run_id,
        )


# artifacts
class ArtifactEntryModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    path: str
    digest: str
    size: int

    @classmethod
    def of(cls, entry: ArtifactEntry) -> ArtifactEntryModel:
        return cls(path=entry.path, digest=entry.digest, size=entry.size)

    def to_entity(self) -> ArtifactEntry:
        return ArtifactEntry(path=self.path, digest=self.digest, size=self.size)


class ArtifactEntriesIn(_Request):
    entries: list[ArtifactEntryModel]


class ArtifactEntries(_Response):
    items: list[ArtifactEntryModel]


class ArtifactChildOut(_Response):
    path: str
    is_dir: bool
    size: int | None = None
    digest: str | None = None


class ArtifactChildren(_Response):
    items: list[ArtifactChildOut]
    next_page_token: str | None = None

    @classmethod
    def of(cls, page: Page[ArtifactListing]) -> ArtifactChildren:
        items = [ArtifactChildOut(path=c.path, is_dir=c.is_dir, size=c.size, digest=c.digest)
                 for c in page.items]  # fmt: skip
        return cls(items=items, next_page_token=page.next_page_token)


class BlobOut(_Response):
    digest: str = Field(examples=["blake3:" + "0" * 64])
    size: int


# events
class EventIn(_Request):
    actor: str
    action: str
    target: str
    payload: dict[str, JsonValue] = Field(default_factory=dict)


class EventOut(_Response):
    id: int
    timestamp: int
    actor: str
    action: str
    target: str
    payload: dict[str, JsonValue]
    # the hash chain (see loopml.core.audit_chain): position, request, digests, links
    seq: int = 0
    request_id: str = ""
    before_digest: str = ""
    after_digest: str = ""
    prev_hash: str = ""
    hash: str = ""

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls.model_validate(
            {
                "id": event.id,
                "timestamp": event.timestamp,
                "actor": event.actor,
                "action": event.action,
                "target": event.target,
                "payload": event.payload,
                "seq": event.seq,
                "request_id": event.request_id,
                "before_digest": event.before_digest,
                "after_digest": event.after_digest,
                "prev_hash": event.prev_hash,
                "hash": event.hash,
            }
        )


class EventPage(_Response):
    items: list[EventOut]
    next_page_token: str | None = None

    @classmethod
    def of(cls, page: Page[Event]) -> EventPage:
        return cls(items=[EventOut.of(e) for e in page.items], next_page_token=page.next_page_token)


# service
class Health(_Response):
    status: Literal["ok"] = "ok"
    version: str


class ErrorDetail(_Response):
    code: str = Field(examples=["not_found"])
    message: str


class ErrorBody(_Response):
    """The shape of every error response."""

    error: ErrorDetail
