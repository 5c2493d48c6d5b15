# mypy: disable-error-code="no-untyped-call"
# (MLflow's SqlAlchemyStore has no type hints)
"""The MLflow side of ``run_dashboard.py``; runs inside ``benchmarks/.venvs/mlflow``.

Fills a fresh SQLite tracking store with the corpus, starts ``mlflow server`` on it (its
defaults: uvicorn, 4 workers) and times the requests its web UI sends for the same screens.

The loader opens the store with MLflow's ``SqlAlchemyStore`` (which creates and migrates the
schema) and creates the experiment through it, then writes the rows of MLflow's own ORM
tables (``SqlRun``, ``SqlParam``, ``SqlTag``, ``SqlMetric``, ``SqlLatestMetric``) in bulk,
2,000 runs per transaction, as ``create_run`` + ``log_batch`` would have written them: those
calls take ~47 ms per run here (``run_tracking.py``'s search corpus), about 80 minutes for
100,000 runs. A sample of runs is read back through ``SqlAlchemyStore`` and checked.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

import mlflow
import sqlalchemy as sa
from _dashboard_corpus import (
    EXPERIMENT,
    MEASURED_LAST,
    Corpus,
    Request,
    RunData,
    run_data,
    time_phases,
    time_requests,
)
from _harness import LOOPBACK, ServerProcess, emit, free_port, log, parse_side_args
from mlflow.store.tracking.dbmodels.models import (
    SqlLatestMetric,
    SqlMetric,
    SqlParam,
    SqlRun,
    SqlTag,
)
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

BENCHES = ("dashboard",)
# what MLflow's UI asks for (mlflow/server/js, 3.17): the runs table's first page, and the
# charts' sampled histories ("get-history-bulk-interval", 320 points per run)
SEARCH_MAX_RESULTS = 100
CHART_POINTS = 320


def sqlite_uri(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'mlflow.db'}"


def load(workdir: Path, corpus: Corpus) -> dict[str, Any]:
    start = time.perf_counter()
    artifacts = (workdir / "artifacts").as_uri()
    store = SqlAlchemyStore(sqlite_uri(workdir), artifacts)
    experiment_id = store.create_experiment(EXPERIMENT)
    location = store.get_experiment(experiment_id).artifact_location
    points = 0
    for chunk in corpus.chunks():
        with store.engine.begin() as conn:
            points += _insert(conn, int(experiment_id), location, chunk)
        if int(chunk[-1].name.rpartition("-")[2]) % 20_000 == 19_999:
            log(f"{chunk[-1].name}: {time.perf_counter() - start:.0f} s")
    seconds = time.perf_counter() - start
    log(f"loaded {corpus.runs:,} runs, {points:,} metric points in {seconds:.1f} s")
    _check(store, corpus)
    store.engine.dispose()
    return {"load_seconds": seconds, "runs": corpus.runs, "points": points, "id": experiment_id}


def _insert(conn: sa.Connection, experiment_id: int, location: str, chunk: list[RunData]) -> int:
    conn.execute(
        sa.insert(SqlRun.__table__),
        [
            {
                "run_uuid": run.id,
                "name": run.name,
                "source_type": "UNKNOWN",
                "source_name": "",
                "entry_point_name": "",
                "user_id": "bench",
                "status": "FINISHED",
                "start_time": run.start_time,
                "end_time": run.end_time,
                "deleted_time": None,
                "source_version": "",
                "lifecycle_stage": "active",
                "artifact_uri": f"{location}/{run.id}/artifacts",
                "experiment_id": experiment_id,
            }
            for run in chunk
        ],
    )
    conn.execute(
        sa.insert(SqlParam.__table__),
        [{"run_uuid": r.id, "key": k, "value": v} for r in chunk for k, v in r.params.items()],
    )
    conn.execute(
        sa.insert(SqlTag.__table__),
        [
            {"run_uuid": r.id, "key": k, "value": v}
            for r in chunk
            for k, v in {**r.tags, "mlflow.runName": r.name, "mlflow.user": "bench"}.items()
        ],
    )
    points = [
        {"run_uuid": r.id, "key": key, "value": value, "step": step, "timestamp": ts, "is_nan": 0}
        for r in chunk
        for key, series in r.metrics.items()
        for step, value, ts in series
    ]
    conn.execute(sa.insert(SqlMetric.__table__), points)
    conn.execute(
        sa.insert(SqlLatestMetric.__table__),
        [
            {"run_uuid": r.id, "key": key, "value": value, "step": step, "timestamp": ts}
            | {"is_nan": 0}
            for r in chunk
            for key, (step, value, ts) in r.latest().items()
        ],
    )
    return len(points)


def _check(store: SqlAlchemyStore, corpus: Corpus) -> None:
    by_index = {0: False, corpus.runs // 2: False}
    by_index.update(dict.fromkeys(corpus.long_indexes()[:2], True))
    for index, long in by_index.items():
        want = run_data(corpus, index, long)
        run = store.get_run(want.id)
        latest = {key: value for key, (_, value, _) in want.latest().items()}
        if run.data.params != want.params or run.info.run_name != want.name:
            raise RuntimeError(f"run {index} reads back differently: {run}")
        if any(not math.isclose(run.data.metrics[k], v) for k, v in latest.items()):
            raise RuntimeError(f"run {index}: latest metrics {run.data.metrics} != {latest}")
        history = store.get_metric_history(want.id, "loss")
        if len(history) != len(want.metrics["loss"]):
            raise RuntimeError(f"run {index}: {len(history)} loss points stored")


def mlflow_server(workdir: Path, port: int) -> ServerProcess:
    """``mlflow server`` on loopback with its defaults (uvicorn, 4 workers) and SQLite."""
    cmd = [str(Path(sys.executable).parent / "mlflow"), "server"]
    cmd += ["--backend-store-uri", sqlite_uri(workdir)]
    cmd += ["--artifacts-destination", str(workdir / "artifacts")]
    cmd += ["--host", LOOPBACK, "--port", str(port)]
    return ServerProcess(
        cmd, f"http://{LOOPBACK}:{port}/health", log_path=workdir / "server.log", cwd=workdir
    )


def requests(
    corpus: Corpus, experiment_id: str
) -> tuple[dict[str, list[Request]], dict[str, list[list[Request]]]]:
    """The calls MLflow's UI makes for each screen (its JSON; the page itself is a static
    single-page app already in the browser's cache), one after another; and the screens with
    charts as the UI sends them (the runs, then their sampled histories at once)."""
    chart_run = corpus.long_ids()[0]
    ten = corpus.long_ids()[:10]
    search = {
        "experiment_ids": [experiment_id],
        "filter": "",
        "run_view_type": "ACTIVE_ONLY",
        "max_results": SEARCH_MAX_RESULTS,
        "order_by": ["attributes.start_time DESC"],
    }

    def sampled(run_ids: list[str], key: str) -> Request:
        query = urlencode(
            [("run_ids", r) for r in run_ids]
            + [("metric_key", key)]
            + [("max_results", CHART_POINTS)]
        )
        return Request("GET", f"/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?{query}")

    history = urlencode({"run_id": chart_run, "metric_key": "loss"})
    get_runs = [Request("GET", f"/ajax-api/2.0/mlflow/runs/get?run_id={r}") for r in ten]
    curves = [sampled(ten, "loss"), sampled(ten, "auc")]
    sorted_by_auc = {**search, "order_by": ["metrics.auc DESC", "attributes.start_time DESC"]}
    filtered = {**search, "filter": "metrics.auc > 0.9 and params.model = 'rf'"}
    return {
        "runs_page": [Request("POST", "/ajax-api/2.0/mlflow/runs/search", search)],
        "runs_sorted_metric": [Request("POST", "/ajax-api/2.0/mlflow/runs/search", sorted_by_auc)],
        "runs_filtered": [Request("POST", "/ajax-api/2.0/mlflow/runs/search", filtered)],
        "run_page": [Request("GET", f"/ajax-api/2.0/mlflow/runs/get?run_id={chart_run}")],
        "run_series": [sampled([chart_run], "loss")],
        "run_history_full": [Request("GET", f"/ajax-api/2.0/mlflow/metrics/get-history?{history}")],
        "compare_screen": [*get_runs, *curves],
    }, {
        "run_screen": [[get_runs[0]], [sampled([chart_run], "loss")]],
        "compare_browser": [get_runs, curves],
    }


def measure(
    server: ServerProcess, port: int, name: str, sequence: list[Request], reps: int
) -> dict[str, Any]:
    """``time_requests`` of one screen, with the server's CPU per round."""
    cpu = server.cpu_seconds()
    result = time_requests(LOOPBACK, port, sequence, reps=reps)
    if "median_ms" not in result:
        log(f"{name}: no answer within {result['timeout_s']:.0f} s")
        return result
    rounds = len(result["ms"]) + (0 if result["once"] else 2)
    result["server_cpu_ms"] = (server.cpu_seconds() - cpu) * 1000 / rounds
    log(f"{name}: median {result['median_ms']:.1f} ms")
    return result


def bench_dashboard(workdir: Path, spec: dict[str, Any]) -> dict[str, Any]:
    corpus = Corpus(spec["runs"], spec["long_runs"], spec["long_steps"])
    loaded = load(workdir, corpus)
    port = free_port()
    measures: dict[str, Any] = {}
    with mlflow_server(workdir, port) as server:
        log(f"mlflow server ready in {server.ready_seconds:.2f} s")
        server.settle()
        sequences, screens = requests(corpus, loaded.pop("id"))
        first = {n: seq for n, seq in sequences.items() if n not in MEASURED_LAST}
        for name, sequence in first.items():
            measures[name] = measure(server, port, name, sequence, spec["reps"])
        for name, phases in screens.items():
            measures[name] = time_phases(LOOPBACK, port, phases, reps=spec["reps"])
            log(f"{name}: median {measures[name]['median_ms']:.1f} ms")
        for name in MEASURED_LAST:
            measures[name] = measure(server, port, name, sequences[name], spec["reps"])
    return {**loaded, "backend": "sqlite", "measures": measures}


def main() -> None:
    args = parse_side_args(BENCHES)
    result = bench_dashboard(args.workdir, args.spec)
    emit({"tool": "mlflow", "version": mlflow.__version__, **result})


if __name__ == "__main__":
    main()
