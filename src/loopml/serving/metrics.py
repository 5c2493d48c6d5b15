"""Prometheus metrics of one model server, in a registry of its own (no global state):
requests by endpoint, status and model version, latency by endpoint, and the size of every
model call (requests and rows per micro-batch).

With several worker processes (``--workers``) each process writes its values to the folder
``PROMETHEUS_MULTIPROC_DIR`` names, and ``/metrics`` adds them up across processes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["METRICS_STATE", "DriftMetrics", "LogMetrics", "RequestMetrics", "ServingMetrics"]

# the key of the app's lifespan state that holds its ServingMetrics, for the HTTP protocol
# (serving/connections.py), which answers slow clients before any request reaches the app
METRICS_STATE = "loopml.serving.metrics"
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
VERSION_HEADER = b"x-loopml-model-version"
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_ROW_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ServingMetrics:
    """The server's counters and histograms."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "loopml_serving_requests",
            "HTTP requests answered, by endpoint, status and the model version that answered.",
            ["endpoint", "status", "model_version"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "loopml_serving_request_duration_seconds",
            "Time from request to response, by endpoint.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_requests = Histogram(
            "loopml_serving_batch_size",
            "Requests answered by one model call (micro-batch size).",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "loopml_serving_batch_rows",
            "Rows predicted by one model call.",
            buckets=_ROW_BUCKETS,
            registry=self.registry,
        )
        self.loads = Counter(
            "loopml_serving_model_loads",
            "Model versions loaded and swapped in, by version.",
            ["model_version"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "loopml_serving_model_refusals",
            "Model versions refused, not swapped in: loading them would run code the server "
            "was not started trusting (--trust-code), by version.",
            ["model_version"],
            registry=self.registry,
        )
        self.predictions = Counter(
            "loopml_serving_predictions",
            "Rows predicted, by model version and traffic (main, canary, or shadow: scored "
            "and logged, never returned).",
            ["model_version", "traffic"],
            registry=self.registry,
        )
        self.shadow_failures = Counter(
            "loopml_serving_shadow_failures",
            "Shadow predictions that failed or were skipped (too many in flight).",
            ["model_version", "reason"],
            registry=self.registry,
        )
        self.timeouts = Counter(
            "loopml_serving_request_timeouts",
            "Requests answered 408 and closed because their headers (--header-timeout) or "
            "their body (--body-timeout) did not arrive in time, by phase.",
            ["phase"],
            registry=self.registry,
        )
        self.log = LogMetrics(self.registry)
        self.drift = DriftMetrics(self.registry)
        if not os.environ.get(MULTIPROCESS_ENV):  # the multiprocess mode has none
            from prometheus_client import ProcessCollector

            ProcessCollector(registry=self.registry)

    def observe_request(self, endpoint: str, status: int, version: str, seconds: float) -> None:
        self.requests.labels(endpoint, str(status), version).inc()
        self.latency.labels(endpoint).observe(seconds)

    def observe_timeout(self, phase: str) -> None:
        """A slow client answered 408: ``phase`` is ``headers`` or ``body``."""
        self.timeouts.labels(phase).inc()

    def observe_batch(self, requests: int, rows: int) -> None:
        self.batch_requests.observe(requests)
        self.batch_rows.observe(rows)

    def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type (summed over worker processes, if any)."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if os.environ.get(MULTIPROCESS_ENV):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class LogMetrics:
    """The prediction log's counters and gauges (gauges summed over live worker processes)."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge

        registry = registry if registry is not None else CollectorRegistry()
        self.registry = registry
        self.logged_rows = Counter(
            "loopml_serving_log_rows",
            "Rows written to the local spool (predictions, feedback).",
            ["kind"],
            registry=registry,
        )
        self.persisted_rows = Counter(
            "loopml_serving_log_persisted_rows",
            "Rows stored in the artifact store.",
            ["kind"],
            registry=registry,
        )
        self.dropped_rows = Counter(
            "loopml_serving_log_dropped_rows",
            "Rows that could not be written to the spool (a full disk): lost.",
            ["kind"],
            registry=registry,
        )
        self.failures = Counter(
            "loopml_serving_log_store_failures",
            "Attempts to store spooled parts that the store refused (retried).",
            registry=registry,
        )
        self.thread_errors = Counter(
            "loopml_serving_log_thread_errors",
            "Errors that interrupted a log thread (spill or upload), which then retried.",
            ["thread"],
            registry=registry,
        )
        self.oldest_unsent_seconds = Gauge(
            "loopml_serving_log_oldest_unsent_seconds",
            "Age of the oldest row not yet in the artifact store (0: none waits).",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.queue_rows = Gauge(
            "loopml_serving_log_queue_rows",
            "Rows logged and still in memory (sampled twice a second; spooled every second).",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.spooled_rows = Gauge(
            "loopml_serving_log_spooled_rows",
            "Rows on local disk, not yet in the artifact store.",
            registry=registry,
            multiprocess_mode="livesum",
        )


class DriftMetrics:
    """Live drift of the served version against its reference (``serving/live_drift.py``).
    With several workers a score is the most recent worker's, the window's rows their sum."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Gauge

        def gauge(name: str, text: str, labels: list[str], mode: Any) -> Any:
            return Gauge(name, text, labels, registry=registry, multiprocess_mode=mode)

        self.feature_score = gauge(
            "loopml_serving_drift_feature_score",
            "Each feature's drift statistic over the live window (method: ks, wasserstein, "
            "chi_square, psi or jensen_shannon).",
            ["model_version", "feature", "method"],
            "livemostrecent",
        )
        self.feature_drifted = gauge(
            "loopml_serving_drift_feature_drifted",
            "1 when the feature drifted in the live window, else 0.",
            ["model_version", "feature"],
            "livemostrecent",
        )
        self.share = gauge(
            "loopml_serving_drift_share",
            "Drifted features over tested ones in the live window (the dataset drift share).",
            ["model_version"],
            "livemostrecent",
        )
        self.prediction_score = gauge(
            "loopml_serving_drift_prediction_score",
            "The predictions' drift statistic, against the served version's predictions on "
            "its reference.",
            ["model_version", "method"],
            "livemostrecent",
        )
        self.prediction_drifted = gauge(
            "loopml_serving_drift_prediction_drifted",
            "1 when the predictions drifted in the live window, else 0.",
            ["model_version"],
            "livemostrecent",
        )
        self.window_rows = gauge(
            "loopml_serving_drift_window_rows",
            "Rows in the live window drift was last computed on.",
            ["model_version"],
            "livesum",
        )
        self.computed = gauge(
            "loopml_serving_drift_computed_timestamp_seconds",
            "When live drift was last computed (Unix time).",
            ["model_version"],
            "livemax",
        )
        self.estimated = {
            metric: gauge(
                f"loopml_serving_estimated_{metric}",
                f"{label} of the live window estimated from the scores before labels arrive "
                "(CBPE, with the calibration loopml monitor report kept).",
                ["model_version"],
                "livemostrecent",
            )
            for metric, label in (("accuracy", "Accuracy"), ("roc_auc", "ROC AUC"))
        }
        self._all = (
            self.feature_score, self.feature_drifted, self.share, self.prediction_score,
            self.prediction_drifted, self.window_rows, self.computed, *self.estimated.values(),
        )  # fmt: skip

    def publish(self, version: str, report: Any, *, rows: int, at: float) -> None:
        """Set the gauges from a :class:`loopml.monitoring.drift.DriftReport` (a score
        whose method changed with the window's size is not left behind)."""
        self.feature_score.clear()
        self.prediction_score.clear()
        for column in report.features:
            if column.method is None or column.statistic is None:
                continue
            self.feature_score.labels(version, column.column, column.method).set(column.statistic)
            self.feature_drifted.labels(version, column.column).set(int(column.drifted))
        self.share.labels(version).set(report.share)
        prediction = report.prediction
        if prediction is not None and prediction.method and prediction.statistic is not None:
            self.prediction_score.labels(version, prediction.method).set(prediction.statistic)
            self.prediction_drifted.labels(version).set(int(prediction.drifted))
        self.window_rows.labels(version).set(rows)
        self.computed.labels(version).set(at)

    def publish_estimates(self, version: str, estimate: Any, *, rows: int) -> None:
        """Set the estimated-performance gauges from a ``cbpe.PerformanceEstimate``."""
        for metric, gauge in self.estimated.items():
            found = estimate.metrics.get(metric)
            if found is not None and found.value == found.value:  # NaN: not estimable
                gauge.labels(version).set(found.value)

    def forget(self) -> None:
        """Drop every series (the served version changed)."""
        for gauge in self._all:
            gauge.clear()


class RequestMetrics:
    """ASGI middleware that counts and times every HTTP request: the endpoint is the route's
    path template (``/v2/models/{name}/infer``), so the labels stay few."""

    def __init__(self, app: ASGIApp, metrics: ServingMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, version = 500, ""

        async def send_and_note(message: Message) -> None:
            nonlocal status, version
            if message["type"] == "http.response.start":
                status = message["status"]
                for key, value in message.get("headers", ()):
                    if key == VERSION_HEADER:
                        version = value.decode("latin-1")
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", None)
            # /docs and /openapi.json are answered without a route in the scope
            endpoint = route or (scope["path"] if status < 400 else "unmatched")
            self.metrics.observe_request(endpoint, status, version, time.perf_counter() - started)
