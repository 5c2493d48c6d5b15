"""The loopml side of ``run_tracking.py``; runs inside the project's ``.venv``.

Metric logging in loopml is batched in the background, so every timed section ends with the
run's end (which flushes everything to the store) and the count is checked afterwards with
``client.get_metric_history``: what is timed is "logged and durably stored", not "enqueued".
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

from _harness import (
    LOOPBACK,
    SEARCH_FILTER,
    ServerProcess,
    emit,
    free_port,
    log,
    matches_search,
    median,
    parse_side_args,
    run_data,
    timed,
)

import loopml
from loopml import Client
from loopml.core.entities import Metric, Param
from loopml.stores.metadata.base import NewRun

BENCHES = (
    "log_metric_embedded",
    "log_metric_server",
    "log_batch",
    "runs_created",
    "search",
    "server_ready",
)
METRIC_KEY = "loss"


def embedded_client(workdir: Path) -> Client:
    """A client on a fresh SQLite store in ``workdir`` (created and migrated here, untimed)."""
    return Client(
        store_uri=f"sqlite:///{workdir / 'loopml.db'}",
        artifact_uri=str(workdir / "artifacts"),
    )


def log_metric_one_at_a_time(client: Client, n: int, reps: int) -> dict[str, Any]:
    """``run.log_metric`` n times inside ``loopml.start_run``; the run's end (the flush of
    everything pending) is inside the timed section."""
    with loopml.start_run(client=client) as warm:  # imports, default experiment, git lookup
        warm.log_metric(METRIC_KEY, 0.0)
    seconds: list[float] = []
    for rep in range(reps):
        start = time.perf_counter()
        with loopml.start_run(client=client) as run:
            for i in range(n):
                run.log_metric(METRIC_KEY, 1.0 / (i + 1), step=i)
        seconds.append(time.perf_counter() - start)  # the run's end, and so the flush, is in
        stored = len(client.get_metric_history(run.id, METRIC_KEY))
        if stored != n:
            raise RuntimeError(f"rep {rep}: {stored} of {n} metrics stored")
        log(f"rep {rep}: {n} calls in {seconds[-1]:.3f} s ({n / seconds[-1]:,.0f}/s)")
    return {"n": n, "seconds": seconds, "per_second": n / median(seconds)}


def bench_log_metric_embedded(workdir: Path, spec: dict[str, Any]) -> dict[str, Any]:
    with embedded_client(workdir) as client:
        return log_metric_one_at_a_time(client, spec["n"], spec["reps"])


def server_command() -> list[str]:
    """``loopml server``, the command the goal names and a user types (like ``mlflow server``
    on the other side); ``python -m loopml.server`` where the console script is missing."""
    script = Path(sys.executable).parent / "loopml"
    if script.exists():
        return [str(script), "server"]
    if importlib.util.find_spec("loopml.server.__main__") is not None:
        return [sys.executable, "-m", "loopml.server"]
    raise RuntimeError("Neither the 'loopml' console script nor loopml.server is installed.")


def loopml_server(
    workdir: Path, port: int, log_name: str = "server.log", env: dict[str, str] | None = None
) -> ServerProcess:
    cmd = [
        *server_command(),
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--store-uri",
        f"sqlite:///{workdir / 'loopml.db'}",
        "--artifact-uri",
        str(workdir / "artifacts"),
    ]
    return ServerProcess(
        cmd,
        f"http://{LOOPBACK}:{port}/api/v1/health",
        log_path=workdir / log_name,
        env=env,
        cwd=workdir,
    )


def bench_log_metric_server(workdir: Path, spec: dict[str, Any]) -> dict[str, Any]:
    port = free_port()
    with loopml_server(workdir, port) as server:
        log(f"loopml server ready in {server.ready_seconds:.2f} s")
        idle = server.settle()
        log(f"server idle {idle:.1f} s after that")
        with Client(server_url=f"http://{LOOPBACK}:{port}") as client:
            result = log_metric_one_at_a_time(client, spec["n"], spec["reps"])
    return {**result, "server_command": " ".join(Path(a).name for a in server_command())}


def bench_log_batch(workdir: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """``client.metadata.log_batch`` with ``batch`` metrics per call, ``calls`` calls per rep."""
    batch, calls, reps = spec["batch"], spec["calls"], spec["reps"]
    seconds: list[float] = []
    with embedded_client(workdir) as client:
        store = client.metadata
        for rep in range(reps):
            run_id = client.create_run("log_batch").id
            ts = int(time.time() * 1000)
            steps = [range(c * batch, (c + 1) * batch) for c in range(calls)]
            batches = [[Metric(METRIC_KEY, 1.0 / (s + 1), s, ts) for s in r] for r in steps]

            def body(run_id: str = run_id, batches: list[list[Metric]] = batches) -> None:
                for metrics in batches:
                    store.log_batch(run_id, metrics=metrics)

            seconds.append(timed(body))
            stored = len(client.get_metric_history(run_id, METRIC_KEY))
            if stored != batch * calls:
                raise RuntimeError(f"rep {rep}: {stored} of {batch * calls} metrics stored")
            log(f"rep {rep}: {batch * calls} metrics in {seconds[-1]:.3f} s")
    total = batch * calls
    return {"n": total, "batch": batch, "seconds": seconds, "per_second": total / median(seconds)}


def bench_runs_created(workdir: Path, spec: dict[str, Any]) -> dict[str, Any]:
    n, seconds = spec["n"], []
    with embedded_client(workdir) as client:
        with loopml.start_run(client=client):  # warm-up: default experiment, git lookup
            pass
        for rep in range(spec["reps"]):

            def body() -> None:
                for _ in range(n):
                    with loopml.start_run(client=client):
                        pass

            seconds.append(timed(body))
            log(f"rep {rep}: {n} runs in {seconds[-1]:.3f} s ({n / seconds[-1]:,.1f}/s)")
    return {"n": n, "seconds": seconds, "per_second": n / median(seconds)}


def bench_search(workdir: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """Create ``runs`` runs straight through the store (create_run + log_batch), then time
    ``client.search_runs`` with a metric and a param filter."""
    target = spec["runs"]
    with embedded_client(workdir) as client:
        store = client.metadata
        experiment = client.create_experiment("search")
        ts = int(time.time() * 1000)
        start = time.perf_counter()
        expected = 0
        for i in range(target):
            data = run_data(i)
            run = store.create_run(NewRun(experiment.id, f"run-{i}", ts + i, tags=data["tags"]))
            store.log_batch(
                run.id,
                metrics=[Metric(k, v, 0, ts) for k, v in data["metrics"].items()],
                params=[Param(k, v) for k, v in data["params"].items()],
            )
            expected += matches_search(data)
        setup_seconds = time.perf_counter() - start
        log(f"setup: {target} runs in {setup_seconds:.1f} s")

        def search() -> Any:
            return client.search_runs(
                experiment="search", filter=SEARCH_FILTER, max_results=spec["max_results"]
            )

        found = search()  # warm-up, and the answer to check
        want = min(expected, spec["max_results"])
        good = all(r.metrics["auc"] > 0.9 and r.params["model"] == "rf" for r in found)
        if len(found) != want or not good:
            raise RuntimeError(
                f"search returned {len(found)} runs (want {want}), all match: {good}"
            )
        seconds = [timed(search) for _ in range(spec["repeats"])]
    log(f"search median {median(seconds) * 1000:.1f} ms over {target} runs")
    return {
        "runs": target,
        "runs_wanted": target,
        "setup_seconds": setup_seconds,
        "matching": expected,
        "returned": len(found),
        "seconds": seconds,
        "median_ms": median(seconds) * 1000,
    }


def bench_server_ready(workdir: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """Spawn → first 200 from /api/v1/health: on a fresh store, then on an existing one."""
    fresh: list[float] = []
    settled: list[float] = []
    for rep in range(spec["reps"]):
        folder = workdir / f"fresh-{rep}"
        folder.mkdir()
        with loopml_server(folder, free_port()) as server:
            fresh.append(server.ready_seconds)
            settled.append(server.ready_seconds + server.settle())
        log(f"fresh store: ready in {fresh[-1]:.2f} s, idle after {settled[-1]:.1f} s")
    restart: list[float] = []
    for rep in range(spec["reps"]):
        with loopml_server(workdir / "fresh-0", free_port(), f"restart-{rep}.log") as server:
            restart.append(server.ready_seconds)
        log(f"existing store: ready in {restart[-1]:.2f} s")
    return {
        "fresh_seconds": fresh,
        "restart_seconds": restart,
        "fresh_median": median(fresh),
        "restart_median": median(restart),
        "fresh_idle_seconds": settled,
        "server_command": " ".join(Path(a).name for a in server_command()),
    }


def main() -> None:
    args = parse_side_args(BENCHES)
    result = globals()[f"bench_{args.bench}"](args.workdir, args.spec)
    emit({"tool": "loopml", "version": loopml.__version__, **result})


if __name__ == "__main__":
    main()
