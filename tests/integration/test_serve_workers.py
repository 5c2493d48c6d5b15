"""``loopml serve NAME@champion --workers 2`` as a real process: two worker processes under
the command's own, both answering over their own connections with the model's predictions,
``/metrics`` adding up every worker's counts, and SIGTERM to the command stopping them all
cleanly (exit code 0, every worker's prediction log stored, no process left running).

Answers carry no worker marker, so a request is traced to its worker through the kernel:
the worker whose file descriptors hold the server side of the request's TCP connection
(``/proc/<pid>/fd`` and ``/proc/net/tcp``). Linux only, hence the skip elsewhere.
"""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loopml.serving import read_predictions
from tests.fixtures.backends import backend_unavailable
from tests.fixtures.model_server import (
    ModelServer,
    start_model_server,
    wait_for,
    wait_until_serving,
)
from tests.fixtures.serving_project import TABLE, ServingProject, registered_models


@pytest.fixture(autouse=True)
def _proc() -> None:
    """Skip without /proc (fail instead under LOOPML_TEST_REQUIRE_BACKENDS=1)."""
    if not Path("/proc/net/tcp").exists():
        backend_unavailable("tracing connections to workers needs /proc")


WORKERS = 2
CONNECTIONS_PER_WORKER = 3
MAX_CONNECTIONS = 64  # the kernel hands each new connection to either worker
REQUESTS = 200
STOP_TIMEOUT = 60.0


# -- processes and sockets, from /proc --------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()  # the name may hold spaces and parentheses


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) and stat[1] == str(pid):
            children.append(int(entry.name))
    return sorted(children)


def _is_worker(pid: int) -> bool:
    """A process uvicorn started to serve (multiprocessing's spawn), not its resource tracker."""
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False


def _is_running(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")  # a zombie has exited


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except (FileNotFoundError, ProcessLookupError):
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def _server_side_inodes(server_port: int) -> dict[int, int]:
    """Socket inode by client port, for the established connections to ``server_port`` as the
    server side sees them (local port ``server_port``)."""
    inodes = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        remote_port = int(fields[2].split(":")[1], 16)
        if local_port == server_port and fields[3] == "01":  # TCP_ESTABLISHED
            inodes[remote_port] = int(fields[9])
    return inodes


def _worker_of(client_port: int, server_port: int, workers: list[int]) -> int:
    """The worker process holding the server side of the connection from ``client_port``."""
    inode = _server_side_inodes(server_port)[client_port]
    (owner,) = [pid for pid in workers if inode in _socket_inodes(pid)]
    return owner


# -- the server -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingProject]:
    with registered_models(tmp_path_factory.mktemp("serve-workers")) as project:
        yield project


@pytest.fixture(scope="module")
def server(project: ServingProject) -> Iterator[ModelServer]:
    started = start_model_server(
        project.folder, f"{TABLE}@champion", "--workers", str(WORKERS), "--log-roll-seconds", "1"
    )
    try:
        yield wait_until_serving(started)
    finally:
        started.stop()


@pytest.fixture
def workers(server: ModelServer) -> list[int]:
    """The worker processes of the running server."""

    def workers_started() -> bool:
        return len([pid for pid in _children(server.process.pid) if _is_worker(pid)]) == WORKERS

    assert wait_for(workers_started), _children(server.process.pid)
    return [pid for pid in _children(server.process.pid) if _is_worker(pid)]


@dataclass
class Connection:
    """One kept-alive TCP connection to the server, and the worker that accepted it."""

    client: httpx.Client
    port: int
    worker: int


def _client_port(response: httpx.Response) -> int:
    return int(response.extensions["network_stream"].get_extra_info("client_addr")[1])


def _is_ready(client: httpx.Client) -> bool:
    return client.get("/health").status_code == 200


@pytest.fixture
def connections(server: ModelServer, workers: list[int]) -> Iterator[list[Connection]]:
    """New connections until every worker has accepted CONNECTIONS_PER_WORKER of them, each
    ready (the model loaded in the worker behind it)."""
    server_port = int(server.url.rsplit(":", 1)[1])
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    opened: list[Connection] = []
    per_worker: Counter[int] = Counter()
    with ExitStack() as clients:
        while len(opened) < MAX_CONNECTIONS and any(
            per_worker[pid] < CONNECTIONS_PER_WORKER for pid in workers
        ):
            client = clients.enter_context(
                httpx.Client(base_url=server.url, limits=limits, timeout=30)
            )
            assert wait_for(partial(_is_ready, client))
            port = _client_port(client.get("/health"))
            opened.append(Connection(client, port, _worker_of(port, server_port, workers)))
            per_worker[opened[-1].worker] += 1
        assert all(per_worker[pid] >= CONNECTIONS_PER_WORKER for pid in workers), per_worker
        yield opened


def _metric(url: str, name: str, **labels: str) -> float:
    """The value of one sample of ``/metrics`` (0 when it is not there yet)."""
    text = httpx.get(f"{url}/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


@dataclass(frozen=True)
class Answer:
    status: int
    predictions: Any
    port: int
    first_row: int
    rows: int


def _send(project: ServingProject, connections: list[Connection], count: int) -> list[Answer]:
    """``count`` requests of 1-3 rows each, spread over ``connections``, one thread each."""

    def send_on(index: int) -> list[Answer]:
        client = connections[index].client
        answers = []
        for number in range(index, count, len(connections)):
            first, rows = number % 500, 1 + number % 3
            records = project.frame.iloc[first : first + rows].to_dict(orient="records")
            response = client.post("/invocations", json={"dataframe_records": records})
            predictions = response.json().get("predictions")
            answers.append(
                Answer(response.status_code, predictions, _client_port(response), first, rows)
            )
        return answers

    with ThreadPoolExecutor(len(connections)) as pool:
        return [a for answers in pool.map(send_on, range(len(connections))) for a in answers]


# -- tests ------------------------------------------------------------------------------------


def test_both_workers_answer_over_their_connections_with_the_models_predictions(
    project: ServingProject, server: ModelServer, workers: list[int], connections: list[Connection]
) -> None:
    requests_before = _metric(
        server.url, "loopml_serving_requests_total", endpoint="/invocations", status="200"
    )
    answers = _send(project, connections, REQUESTS)

    assert [a.status for a in answers] == [200] * REQUESTS
    local = project.local_predictions(f"{TABLE}@1", project.frame.iloc[:502])
    for answer in answers:
        assert answer.predictions == local[answer.first_row : answer.first_row + answer.rows]
    worker_of_port = {c.port: c.worker for c in connections}
    assert {a.port for a in answers} <= set(worker_of_port)  # no connection was replaced
    by_worker = Counter(worker_of_port[a.port] for a in answers)
    assert set(by_worker) == set(workers) and sum(by_worker.values()) == REQUESTS, by_worker
    # /metrics is answered by one worker, but counts what every worker answered
    requests_after = _metric(
        server.url, "loopml_serving_requests_total", endpoint="/invocations", status="200"
    )
    assert requests_after - requests_before == REQUESTS


def test_sigterm_to_the_command_stops_every_worker_cleanly_and_stores_their_logs(
    project: ServingProject,
    server: ModelServer,
    workers: list[int],
    connections: list[Connection],
) -> None:
    """Runs last: it stops the module's server."""
    assert all(a.status == 200 for a in _send(project, connections, 30))
    processes = _children(server.process.pid)  # the workers and multiprocessing's tracker
    rows = _metric(server.url, "loopml_serving_predictions_total", traffic="main")
    assert rows >= 30

    server.process.send_signal(signal.SIGTERM)
    exit_code = server.process.wait(timeout=STOP_TIMEOUT)

    assert exit_code == 0, server.log()
    assert set(workers) <= set(processes)
    assert wait_for(lambda: not any(_is_running(pid) for pid in processes), timeout=10), [
        (pid, _stat(pid)) for pid in processes
    ]
    assert "Traceback" not in server.log(), server.log()
    # each worker stores its own prediction log as it stops: together, every row answered
    assert read_predictions(TABLE, project.client).num_rows == rows
