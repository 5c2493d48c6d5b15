"""Prometheus metrics of the platform server, in a registry of its own (no global state):
requests and their latency by route template (``/api/v1/runs/{run_id}``, never the raw path,
so the label values stay few), method and status class; the server's own failures (5xx) by
error code — a store that is down shows as ``backend_unavailable``; and the process's CPU,
memory and open files.

With ``--workers N`` each process writes its values to the folder ``PROMETHEUS_MULTIPROC_DIR``
names and ``GET /metrics`` adds them up across processes (prometheus-client's multiprocess
mode, which has no process metrics).
"""

from __future__ import annotations

import bisect
import itertools
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loopml.server.auth import require

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

__all__ = ["ERROR_CODE_SCOPE", "MULTIPROCESS_ENV", "ServerMetrics", "ServerRequestMetrics"]

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# where the error handlers note the code of an error answer, for the failures counter
ERROR_CODE_SCOPE = "loopml.error_code"
UNMATCHED = "unmatched"  # a request no route answered (404, 405 before routing)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

_STATUS_CLASSES = {n: f"{n}xx" for n in range(1, 6)}
_REQUESTS = (
    "loopml_server_requests",
    "HTTP requests answered, by route template, method and status class (2xx…5xx).",
)
_LATENCY = (
    "loopml_server_request_duration_seconds",
    "Time from request to response, by route template and method.",
)

router = APIRouter(tags=["service"])


class RequestTally:
    """Request counts and latency histograms kept as plain numbers (a request costs a few
    dict and list operations and no lock: requests are observed on the one event-loop
    thread), made into Prometheus families only when scraped."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str], int] = {}
        # (route, method) → a count per bucket (the last one: +Inf), then the sum
        self.latency: dict[tuple[str, str], list[float]] = {}

    def observe(self, route: str, method: str, status: str, seconds: float) -> None:
        key = (route, method, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        histogram = self.latency.get((route, method))
        if histogram is None:
            histogram = self.latency[route, method] = [0.0] * (len(_LATENCY_BUCKETS) + 2)
        histogram[bisect.bisect_left(_LATENCY_BUCKETS, seconds)] += 1
        histogram[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
        from prometheus_client.utils import floatToGoString

        counts = CounterMetricFamily(*_REQUESTS, labels=["route", "method", "status"])
        for key, count in list(self.counts.items()):
            counts.add_metric(list(key), count)
        yield counts
        edges = (*_LATENCY_BUCKETS, float("inf"))
        bounds = [floatToGoString(b) for b in edges]  # type: ignore[no-untyped-call]
        latency = HistogramMetricFamily(*_LATENCY, labels=["route", "method"])
        for route_method, values in list(self.latency.items()):
            cumulative = list(itertools.accumulate(values[:-1]))
            buckets = list(zip(bounds, cumulative, strict=True))
            latency.add_metric(list(route_method), buckets, values[-1])
        yield latency


class SharedRequestMetrics:
    """The same metrics in prometheus-client's multiprocess mode (``--workers``), whose
    values live in files that ``/metrics`` sums over the processes."""

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Histogram

        self.counts = Counter(*_REQUESTS, ["route", "method", "status"], registry=registry)
        self.latency = Histogram(
            *_LATENCY, ["route", "method"], buckets=_LATENCY_BUCKETS, registry=registry
        )

    def observe(self, route: str, method: str, status: str, seconds: float) -> None:
        self.counts.labels(route, method, status).inc()
        self.latency.labels(route, method).observe(seconds)


class ServerMetrics:
    """The server's counters and histograms (see the module docstring)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter

        self.registry = CollectorRegistry()
        self.errors = Counter(
            "loopml_server_errors",
            "Requests the server failed (5xx), by route template and error code "
            "(backend_unavailable: a store is down; internal_error: a bug, in the log).",
            ["route", "code"],
            registry=self.registry,
        )
        self.requests: RequestTally | SharedRequestMetrics
        if os.environ.get(MULTIPROCESS_ENV):
            self.requests = SharedRequestMetrics(self.registry)
        else:
            from prometheus_client import PlatformCollector, ProcessCollector

            self.requests = RequestTally()
            self.registry.register(self.requests)
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.observe(route, method, _STATUS_CLASSES.get(status // 100, "other"), seconds)

    def observe_error(self, route: str, code: str) -> None:
        self.errors.labels(route, code).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type (summed over worker processes, if any)."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self._collected()), CONTENT_TYPE_LATEST

    def _collected(self) -> CollectorRegistry:
        if not os.environ.get(MULTIPROCESS_ENV):
            return self.registry
        from prometheus_client import CollectorRegistry, multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry


class ServerRequestMetrics:
    """Pure ASGI middleware that counts and times every HTTP request (no body is touched).
    A route's template is named with the ``prefix`` its router was included under (the
    routing scope only holds the template within its router)."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics, prefix: str = "") -> None:
        self.app = app
        self.metrics = metrics
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            # routing sets the matched route in this same scope dict
            template = getattr(scope.get("route"), "path", None)
            if template is None:
                route = UNMATCHED
            elif self.prefix and scope["path"].startswith(self.prefix):
                route = self.prefix + template
            else:
                route = template
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.metrics.observe(route, method, status, time.perf_counter() - started)
            if status >= 500:
                self.metrics.observe_error(route, scope.get(ERROR_CODE_SCOPE, "internal_error"))


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    dependencies=[Depends(require("metrics:read"))],
)
async def metrics(request: Request) -> Response:
    """Requests, latency and failures by route, and the process's resources, in
    Prometheus's text format."""
    found: ServerMetrics = request.app.state.metrics
    body, content_type = found.exposition()
    return Response(body, media_type=content_type)
