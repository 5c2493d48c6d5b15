"""The runs slice of the remote metadata store: runs, batches, heartbeats and search."""

from __future__ import annotations

from collections.abc import Sequence

from loopml.core.entities import Metric, Page, Param, Run, RunStatus, Tag
from loopml.core.validation import validate_metric_value
from loopml.stores.metadata.event_store import NewEvent
from loopml.stores.metadata.run_store import (
    EventOf,
    MetricSeries,
    NewRun,
    RunQuery,
    check_series_points,
)
from loopml.stores.remote import wire
from loopml.stores.remote.http_slice import RETURN_MINIMAL, HttpSlice, segment


def _metric_json(metric: Metric) -> dict[str, object]:
    value = validate_metric_value(metric.key, metric.value)
    return {
        "key": metric.key,
        "value": wire.encode_float(value),
        "step": metric.step,
        "timestamp": metric.timestamp,
    }


class HttpRunStore(HttpSlice):
    """Runs over ``/runs``."""

    def create_run(self, new_run: NewRun, *, event: NewEvent | None = None) -> Run:
        wire.refuse_event(event)
        body = {
            "experiment_id": new_run.experiment_id,
            "name": new_run.name,
            "start_time": new_run.start_time,
            "parent_run_id": new_run.parent_run_id,
            "tags": dict(new_run.tags),
            "run_id": new_run.run_id,
        }
        if new_run.experiment_name is not None:  # resolved (or created) by the server
            body["experiment_name"] = new_run.experiment_name
        # with a preset id a repeated request cannot create a second run
        data = self._api.request_json(
            "POST", "/runs", json_body=body, idempotent=new_run.run_id is not None
        )
        return wire.run_from_json(data)

    def get_run(self, run_id: str) -> Run:
        return wire.run_from_json(self._api.request_json("GET", f"/runs/{segment(run_id)}"))

    def set_run_status(
        self,
        run_id: str,
        status: RunStatus,
        end_time: int | None,
        *,
        event: NewEvent | None = None,
    ) -> None:
        wire.refuse_event(event)
        body = {"status": str(status), "end_time": end_time}
        # the run is not read back: 204 from a server that knows Prefer, the run from one before
        self._api.request(
            "PUT", f"/runs/{segment(run_id)}/status", json_body=body, headers=RETURN_MINIMAL
        )

    def delete_run(self, run_id: str, *, event: NewEvent | None = None) -> None:
        wire.refuse_event(event)
        self._api.request("DELETE", f"/runs/{segment(run_id)}")

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
        wire.refuse_event(event)
        body: dict[str, object] = {
            "metrics": [_metric_json(metric) for metric in metrics],
            "params": [{"key": p.key, "value": p.value} for p in params],
            "tags": [{"key": t.key, "value": t.value} for t in tags],
        }
        if batch_id is not None:
            body["batch_id"] = batch_id
        # with a batch id the server stores a repeated request once: safe to send again
        self._api.request(
            "POST",
            f"/runs/{segment(run_id)}/batch",
            json_body=body,
            idempotent=batch_id is not None,
        )

    def heartbeat_run(self, run_id: str) -> None:
        self._api.request("PUT", f"/runs/{segment(run_id)}/heartbeat")

    def close_lapsed_runs(
        self, lapsed_for_ms: int, *, dry_run: bool = False, event_of: EventOf | None = None
    ) -> list[Run]:
        wire.refuse_event(event_of)
        body = {"lapsed_for_ms": lapsed_for_ms, "dry_run": dry_run}
        data = self._api.request_json("POST", "/runs/close-lapsed", json_body=body)
        return [wire.run_from_json(item) for item in wire.objects(data, "items")]

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        data = self._api.request_json(
            "GET", f"/runs/{segment(run_id)}/metric-history", params={"key": key}
        )
        return [wire.metric_from_json(item) for item in wire.objects(data, "items")]

    def get_metric_series(self, run_id: str, key: str, *, max_points: int) -> MetricSeries:
        params: dict[str, str | int] = {"key": key, "max_points": check_series_points(max_points)}
        data = self._api.request_json(
            "GET", f"/runs/{segment(run_id)}/metric-series", params=params
        )
        points = tuple(wire.metric_from_json(item) for item in wire.objects(data, "items"))
        return MetricSeries(
            key, wire.integer(data, "total"), wire.boolean(data, "downsampled"), points
        )

    def search_runs(self, query: RunQuery) -> Page[Run]:
        body = {
            "experiment_ids": list(query.experiment_ids),
            "filter": query.filter,
            "order_by": list(query.order_by),
            "max_results": query.max_results,
            "page_token": query.page_token,
            "parent_run_id": query.parent_run_id,
        }
        data = self._api.request_json("POST", "/runs/search", json_body=body, idempotent=True)
        items = [wire.run_from_json(item) for item in wire.objects(data, "items")]
        return Page(items, wire.page_token(data))
