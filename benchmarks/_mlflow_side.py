"""The MLflow side of ``run_tracking.py``; runs inside ``benchmarks/.venvs/mlflow``.

Each benchmark uses the plain public API a user would call, with a SQLite tracking store in a
fresh folder. MLflow writes synchronously, so every timed call is durably stored when it
returns; the counts are still checked afterwards, as on the loopml side.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

import mlflow
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
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

BENCHES = (
    "log_metric_embedded",
    "log_metric_server",
    "log_batch",
    "runs_created",
    "search",
    "server_ready",
)
METRIC_KEY = "loss"


def sqlite_uri(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'mlflow.db'}"


def use_tracking_uri(uri: str) -> MlflowClient:
    """Point the fluent API at ``uri`` and make sure its store exists (migrations untimed)."""
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(tracking_uri=uri)
    client.search_experiments(max_results=1)
    return client


def log_metric_one_at_a_time(client: MlflowClient, n: int, reps: int) -> dict[str, Any]:
    """``mlflow.log_metric`` n times inside ``mlflow.start_run()``; start and end included."""
    with mlflow.start_run():  # warm-up: default experiment, imports, git lookup
        mlflow.log_metric(METRIC_KEY, 0.0)
    seconds: list[float] = []
    for rep in range(reps):
        start = time.perf_counter()
        with mlflow.start_run() as run:
            for i in range(n):
                mlflow.log_metric(METRIC_KEY, 1.0 / (i + 1), step=i)
        seconds.append(time.perf_counter() - start)
        stored = len(client.get_metric_history(run.info.run_id, METRIC_KEY))
        if stored != n:
            raise RuntimeError(f"rep {rep}: {stored} of {n} metrics stored")
        log(f"rep {rep}: {n} calls in {seconds[-1]:.3f} s ({n / seconds[-1]:,.0f}/s)")
    return {"n": n, "seconds": seconds, "per_second": n / median(seconds)}


def bench_log_metric_embedded(workdir: Path, spec: dict[str, Any]) -> dict[str, Any]:
    client = use_tracking_uri(sqlite_uri(workdir))
    return log_metric_one_at_a_time(client, spec["n"], spec["reps"])


def mlflow_server(workdir: Path, port: int, log_name: str = "server.log") -> ServerProcess:
    """``mlflow server`` on loopback with its defaults (uvicorn, 4 workers) and SQLite."""
    cmd = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--backend-store-uri",
        sqlite_uri(workdir),
        "--artifacts-destination",
        str(workdir / "artifacts"),
        "--host",
        LOOPBACK,
        "--port",
        str(port),
    ]
    return ServerProcess(
        cmd, f"http://{LOOPBACK}:{port}/health", log_path=workdir / log_name, cwd=workdir
    )


def bench_log_metric_server(workdir: Path, spec: dict[str, Any]) -> dict[str, Any]:
    port = free_port()
    with mlflow_server(workdir, port) as server:
        log(f"mlflow server ready in {server.ready_seconds:.2f} s")
        idle = server.settle()
        log(f"server idle {idle:.1f} s after that")
        client = use_tracking_uri(f"http://{LOOPBACK}:{port}")
        result = log_metric_one_at_a_time(client, spec["n"], spec["reps"])
    return result


def bench_log_batch(workdir: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """``MlflowClient.log_batch`` with ``batch`` metrics per call, ``calls`` calls per rep."""
    client = use_tracking_uri(sqlite_uri(workdir))
    batch, calls, reps = spec["batch"], spec["calls"], spec["reps"]
    experiment_id = client.create_experiment("log_batch")
    seconds: list[float] = []
    for rep in range(reps):
        run_id = client.create_run(experiment_id).info.run_id
        ts = int(time.time() * 1000)
        batches = [
            [Metric(METRIC_KEY, 1.0 / (s + 1), ts, s) for s in range(c * batch, (c + 1) * batch)]
            for c in range(calls)
        ]

        def body(run_id: str = run_id, batches: list[list[Metric]] = batches) -> None:
            for metrics in batches:
                client.log_batch(run_id, metrics=metrics)

        seconds.append(timed(body))
        stored = len(client.get_metric_history(run_id, METRIC_KEY))
        if stored != batch * calls:
            raise RuntimeError(f"rep {rep}: {stored} of {batch * calls} metrics stored")
        log(f"rep {rep}: {batch * calls} metrics in {seconds[-1]:.3f} s")
    total = batch * calls
    return {"n": total, "batch": batch, "seconds": seconds, "per_second": total / median(seconds)}


def bench_runs_created(workdir: Path, spec: dict[str, Any]) -> dict[str, Any]:
    use_tracking_uri(sqlite_uri(workdir))
    with mlflow.start_run():  # warm-up: default experiment, imports, git lookup
        pass
    n, seconds = spec["n"], []
    for rep in range(spec["reps"]):

        def body() -> None:
            for _ in range(n):
                with mlflow.start_run():
                    pass

        seconds.append(timed(body))
        log(f"rep {rep}: {n} runs in {seconds[-1]:.3f} s ({n / seconds[-1]:,.1f}/s)")
    return {"n": n, "seconds": seconds, "per_second": n / median(seconds)}


def bench_search(workdir: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """Create up to ``runs`` runs (create_run + log_batch) within ``setup_budget`` seconds,
    then time ``search_runs`` with a metric and a param filter."""
    client = use_tracking_uri(sqlite_uri(workdir))
    experiment_id = client.create_experiment("search")
    target, budget = spec["runs"], spec["setup_budget"]
    ts = int(time.time() * 1000)
    start = time.perf_counter()
    created, expected = 0, 0
    for i in range(target):
        if time.perf_counter() - start > budget:
            log(f"setup budget of {budget} s used up after {created} runs")
            break
        data = run_data(i)
        run_id = client.create_run(experiment_id, start_time=ts + i, tags=data["tags"]).info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, ts, 0) for k, v in data["metrics"].items()],
            params=[Param(k, v) for k, v in data["params"].items()],
            tags=[RunTag("mlflow.runName", f"run-{i}")],
        )
        created += 1
        expected += matches_search(data)
        if created % 1000 == 0:
            log(f"{created} runs created ({time.perf_counter() - start:.0f} s)")
    setup_seconds = time.perf_counter() - start
    log(f"setup: {created} runs in {setup_seconds:.1f} s")

    def search() -> Any:
        return client.search_runs(
            [experiment_id], filter_string=SEARCH_FILTER, max_results=spec["max_results"]
        )

    found = search()  # warm-up, and the answer to check
    want = min(expected, spec["max_results"])
    good = all(r.data.metrics["auc"] > 0.9 and r.data.params["model"] == "rf" for r in found)
    if len(found) != want or not good:
        raise RuntimeError(f"search returned {len(found)} runs (want {want}), all match: {good}")
    seconds = [timed(search) for _ in range(spec["repeats"])]
    log(f"search median {median(seconds) * 1000:.1f} ms over {created} runs")
    return {
        "runs": created,
        "runs_wanted": target,
        "setup_seconds": setup_seconds,
        "matching": expected,
        "returned": len(found),
        "seconds": seconds,
        "median_ms": median(seconds) * 1000,
    }


def bench_server_ready(workdir: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """Spawn → first 200 from /health: on a fresh store, then restarted on an existing one."""
    fresh: list[float] = []
    settled: list[float] = []
    for rep in range(spec["reps"]):
        folder = workdir / f"fresh-{rep}"
        folder.mkdir()
        with mlflow_server(folder, free_port()) as server:
            fresh.append(server.ready_seconds)
            settled.append(server.ready_seconds + server.settle())
        log(f"fresh store: ready in {fresh[-1]:.2f} s, idle after {settled[-1]:.1f} s")
    restart: list[float] = []
    for rep in range(spec["reps"]):
        with mlflow_server(workdir / "fresh-0", free_port(), f"restart-{rep}.log") as server:
            restart.append(server.ready_seconds)
        log(f"existing store: ready in {restart[-1]:.2f} s")
    return {
        "fresh_seconds": fresh,
        "restart_seconds": restart,
        "fresh_median": median(fresh),
        "restart_median": median(restart),
        "fresh_idle_seconds": settled,
        "workers": "default (4, uvicorn)",
    }


def main() -> None:
    args = parse_side_args(BENCHES)
    result = globals()[f"bench_{args.bench}"](args.workdir, args.spec)
    emit({"tool": "mlflow", "version": mlflow.__version__, **result})


if __name__ == "__main__":
    main()
