"""What ``run_dashboard.py``'s two sides share: the corpus of runs both stores are filled with,
and the clock for HTTP requests. Standard library only: imported in loopml's ``.venv`` and in
``benchmarks/.venvs/mlflow``.

The corpus: ``runs`` finished runs in one experiment (beside an empty second one), each with
three params, one tag and two metrics. Most runs log ``loss`` at 6 steps and ``auc`` at 3
(9 points); ``long_runs`` of them, spread over the list, log ``loss`` at ``long_steps`` steps
(the run a chart is drawn for) and ``auc`` at 9. With the defaults: 100,000 runs and exactly
1,000,000 metric points. Run ids are 32 hex digits (an MLflow run id, and a valid loopml
one), the same on both sides.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import queue
import random
import statistics
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

EXPERIMENT = "dashboard"
SECOND_EXPERIMENT = "Default"  # empty; MLflow's store has its own "Default" too
BASE_MS = 1_750_000_000_000  # the first run's start
SHORT_STEPS = {"loss": 6, "auc": 3}
LONG_AUC_STEPS = 9
MODELS = ("rf", "xgb", "lr")


@dataclass(frozen=True)
class Corpus:
    runs: int = 100_000
    long_runs: int = 10
    long_steps: int = 10_000

    def run_id(self, index: int) -> str:
        return hashlib.md5(f"dashboard-run-{index}".encode()).hexdigest()

    def long_indexes(self) -> list[int]:
        """The runs with a long ``loss`` history: evenly spread, the newest run among them."""
        gap = self.runs // self.long_runs
        return [self.runs - 1 - k * gap for k in range(self.long_runs)]

    def long_ids(self) -> list[str]:
        return [self.run_id(index) for index in self.long_indexes()]

    def points(self) -> int:
        short = (self.runs - self.long_runs) * sum(SHORT_STEPS.values())
        return short + self.long_runs * (self.long_steps + LONG_AUC_STEPS)

    def chunks(self, size: int = 2000) -> Iterator[list[RunData]]:
        """Every run, ``size`` at a time, oldest first."""
        long = set(self.long_indexes())
        for start in range(0, self.runs, size):
            stop = min(start + size, self.runs)
            yield [run_data(self, index, index in long) for index in range(start, stop)]


@dataclass(frozen=True)
class RunData:
    id: str
    name: str
    start_time: int
    end_time: int
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, list[tuple[int, float, int]]]  # key -> [(step, value, timestamp)]

    def latest(self) -> dict[str, tuple[int, float, int]]:
        """Each key's point at its highest step (what both stores keep as "latest")."""
        return {key: series[-1] for key, series in self.metrics.items()}


def run_data(corpus: Corpus, index: int, long: bool) -> RunData:
    rng = random.Random(index)
    start = BASE_MS + index * 60_000
    scale = rng.uniform(0.5, 1.5)
    loss_steps = corpus.long_steps if long else SHORT_STEPS["loss"]
    auc_steps = LONG_AUC_STEPS if long else SHORT_STEPS["auc"]
    auc_top = rng.uniform(0.6, 1.0)
    return RunData(
        id=corpus.run_id(index),
        name=f"run-{index}",
        start_time=start,
        end_time=start + rng.randint(10_000, 50_000),
        params={
            "model": rng.choice(MODELS),
            "depth": str(rng.randint(2, 12)),
            "lr": f"{rng.choice([0.001, 0.01, 0.1]):g}",
        },
        tags={"team": rng.choice(["a", "b"])},
        metrics={
            "loss": [(s, scale / (s + 1), start + s) for s in range(loss_steps)],
            "auc": [(s, auc_top * (s + 1) / auc_steps, start + s) for s in range(auc_steps)],
        },
    )


# --- the clock ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict[str, Any] | None = None


# measured after the rest: a search MLflow takes minutes over keeps one of its workers busy
MEASURED_LAST = ("runs_sorted_metric", "runs_filtered")
SLOW_S = 10.0  # a screen slower than this is timed once, not repeated
TIMEOUT_S = 120.0


def time_requests(
    host: str, port: int, requests: Sequence[Request], *, reps: int, warmup: int = 2
) -> dict[str, Any]:
    """Send ``requests`` one after another over one keep-alive connection, ``reps`` times
    (after ``warmup`` untimed rounds); each round's wall time in ms, its median, best and
    95th percentile, and the last round's body sizes. A round with a non-200 answer raises.
    A first round slower than ``SLOW_S`` is the only one (``"once"``); one over
    ``TIMEOUT_S`` gives ``{"timeout_s": ...}``."""
    connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
    rounds: list[float] = []
    sizes: list[int] = []
    try:
        for rep in range(warmup + reps):
            start = time.perf_counter()
            try:
                sizes = [_send(connection, request) for request in requests]
            except TimeoutError:
                return {"timeout_s": TIMEOUT_S, "requests": len(requests)}
            elapsed = (time.perf_counter() - start) * 1000
            if rep == 0 and elapsed > SLOW_S * 1000:
                rounds, sizes = [elapsed], sizes
                break
            if rep >= warmup:
                rounds.append(elapsed)
    finally:
        connection.close()
    ordered = sorted(rounds)
    return {
        "ms": rounds,
        "median_ms": statistics.median(rounds),
        "best_ms": ordered[0],
        "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "once": len(rounds) == 1 and reps > 1,
        "requests": len(requests),
        "bytes": sizes,
    }


BROWSER_CONNECTIONS = 6  # what a browser opens to one host over HTTP/1.1


def time_phases(
    host: str, port: int, phases: Sequence[Sequence[Request]], *, reps: int, warmup: int = 2
) -> dict[str, Any]:
    """A screen as a browser loads it: the phases one after another (the page, then what
    its script asks for), each phase's requests at once over up to six keep-alive
    connections. Each round's wall time in ms, its median, best and 95th percentile."""
    pool: queue.Queue[http.client.HTTPConnection] = queue.Queue()
    for _ in range(BROWSER_CONNECTIONS):
        pool.put(http.client.HTTPConnection(host, port, timeout=120))

    def send(request: Request) -> int:
        connection = pool.get()
        try:
            return _send(connection, request)
        finally:
            pool.put(connection)

    rounds: list[float] = []
    try:
        with ThreadPoolExecutor(BROWSER_CONNECTIONS) as workers:
            for rep in range(warmup + reps):
                start = time.perf_counter()
                for phase in phases:
                    list(workers.map(send, phase))
                if rep >= warmup:
                    rounds.append((time.perf_counter() - start) * 1000)
    finally:
        while not pool.empty():
            pool.get().close()
    ordered = sorted(rounds)
    return {
        "ms": rounds,
        "median_ms": statistics.median(rounds),
        "best_ms": ordered[0],
        "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "requests": sum(len(phase) for phase in phases),
        "phases": len(phases),
    }


def _send(connection: http.client.HTTPConnection, request: Request) -> int:
    headers = {"Accept": "*/*"}
    payload = None
    if request.body is not None:
        payload = json.dumps(request.body).encode()
        headers["Content-Type"] = "application/json"
    try:
        connection.request(request.method, request.path, body=payload, headers=headers)
        response = connection.getresponse()
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        # the server closed an idle keep-alive connection (uvicorn: after 5 s); a browser
        # opens a new one, and so does http.client on the next request
        connection.close()
        connection.request(request.method, request.path, body=payload, headers=headers)
        response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(
            f"{request.method} {request.path} answered {response.status}: {body[:300]!r}"
        )
    return len(body)


def status_of(host: str, port: int, path: str) -> int:
    """The HTTP status of ``GET path`` (to tell a page that exists from one not built yet)."""
    connection = http.client.HTTPConnection(host, port, timeout=120)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()
