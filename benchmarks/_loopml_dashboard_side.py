"""The loopml side of ``run_dashboard.py``; runs inside the project's ``.venv``.

Fills a fresh store (SQLite in the work folder, or the PostgreSQL database named by the spec's
``store_uri``) with the corpus, starts ``loopml server`` on it and times the dashboard's
requests over one keep-alive connection.

The loader opens the store with :class:`SqlMetadataStore` (which creates and migrates the
schema) and creates the experiment through it, then writes the rows of the store's own tables
(:mod:`loopml.stores.metadata.sql.schema`) in bulk, 2,000 runs per transaction: creating
100,000 runs one ``create_run`` + ``log_batch`` + ``set_run_status`` at a time takes ~4 ms
each on this machine (~7 minutes), most of it the audit log's entry per call, which no page
reads. A sample of runs is then read back through the store's API and checked against the
corpus, so the bulk rows are what the API would have written.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from _dashboard_corpus import (
    EXPERIMENT,
    MEASURED_LAST,
    SECOND_EXPERIMENT,
    Corpus,
    Request,
    RunData,
    run_data,
    status_of,
    time_phases,
    time_requests,
)
from _harness import LOOPBACK, ServerProcess, emit, free_port, log, parse_side_args
from _loopml_side import server_command

import loopml
from loopml.stores.metadata.sql import schema
from loopml.stores.metadata.sql.store import SqlMetadataStore

BENCHES = ("dashboard",)


def load(store_uri: str, corpus: Corpus) -> dict[str, Any]:
    """Fill the store at ``store_uri`` with ``corpus``; how long it took and what was
    written."""
    start = time.perf_counter()
    with SqlMetadataStore(store_uri) as store:
        experiment_id = store.create_experiment(EXPERIMENT).id
        store.create_experiment(SECOND_EXPERIMENT)  # "All" then lists two, as in any store
    engine = sa.create_engine(store_uri.replace("postgresql://", "postgresql+psycopg://", 1))
    points = 0
    try:
        for chunk in corpus.chunks():
            with engine.begin() as conn:
                points += _insert(conn, experiment_id, chunk)
            if len(chunk) and int(chunk[-1].name.rpartition("-")[2]) % 20_000 == 19_999:
                log(f"{chunk[-1].name}: {time.perf_counter() - start:.0f} s")
    finally:
        engine.dispose()
    seconds = time.perf_counter() - start
    log(f"loaded {corpus.runs:,} runs, {points:,} metric points in {seconds:.1f} s")
    _check(store_uri, corpus)
    return {"load_seconds": seconds, "runs": corpus.runs, "points": points}


def _insert(conn: sa.Connection, experiment_id: str, chunk: list[RunData]) -> int:
    conn.execute(
        sa.insert(schema.runs),
        [
            {
                "id": run.id,
                "experiment_id": experiment_id,
                "name": run.name,
                "status": "FINISHED",
                "start_time": run.start_time,
                "end_time": run.end_time,
                "parent_run_id": None,
                "heartbeat_at": run.end_time,
            }
            for run in chunk
        ],
    )
    conn.execute(
        sa.insert(schema.params),
        [{"run_id": r.id, "key": k, "value": v} for r in chunk for k, v in r.params.items()],
    )
    conn.execute(
        sa.insert(schema.run_tags),
        [{"run_id": r.id, "key": k, "value": v} for r in chunk for k, v in r.tags.items()],
    )
    points = [
        {"run_id": r.id, "key": key, "value": value, "step": step, "timestamp": ts}
        for r in chunk
        for key, series in r.metrics.items()
        for step, value, ts in series
    ]
    conn.execute(sa.insert(schema.metrics), points)
    conn.execute(
        sa.insert(schema.latest_metrics),
        [
            {"run_id": r.id, "key": key, "value": value, "step": step, "timestamp": ts}
            for r in chunk
            for key, (step, value, ts) in r.latest().items()
        ],
    )
    return len(points)


def _check(store_uri: str, corpus: Corpus) -> None:
    """Read a few runs back through the store's API: what the corpus says they hold."""
    by_index = {0: False, corpus.runs // 2: False}
    by_index.update(dict.fromkeys(corpus.long_indexes()[:2], True))
    with SqlMetadataStore(store_uri) as store:
        for index, long in by_index.items():
            want = run_data(corpus, index, long)
            run = store.get_run(want.id)
            latest = {key: value for key, (_, value, _) in want.latest().items()}
            if run.params != want.params or run.tags != want.tags or run.name != want.name:
                raise RuntimeError(f"run {index} reads back differently: {run}")
            if any(not math.isclose(run.metrics[k], v) for k, v in latest.items()):
                raise RuntimeError(f"run {index}: latest metrics {run.metrics} != {latest}")
            history = store.get_metric_history(want.id, "loss")
            if len(history) != len(want.metrics["loss"]):
                raise RuntimeError(f"run {index}: {len(history)} loss points stored")


def loopml_server(store_uri: str, workdir: Path, port: int, workers: int) -> ServerProcess:
    cmd = [*server_command(), "--host", LOOPBACK, "--port", str(port), "--workers", str(workers)]
    cmd += ["--store-uri", store_uri, "--artifact-uri", str(workdir / "artifacts")]
    return ServerProcess(
        cmd,
        f"http://{LOOPBACK}:{port}/api/v1/health",
        log_path=workdir / "server.log",
        cwd=workdir,
    )


def requests(
    corpus: Corpus, spec: dict[str, Any]
) -> tuple[dict[str, list[Request]], dict[str, list[list[Request]]]]:
    """What each screen asks the server for, one request after another (the page's HTML,
    and for the screens with charts, the series its script then reads); and the screens with
    charts as a browser loads them (the page, then its series at once)."""
    chart_run = corpus.long_ids()[0]
    ten = corpus.long_ids()[:10]
    compare = Request("GET", f"/ui/compare?{urlencode([('run', run_id) for run_id in ten])}")
    run_page = Request("GET", f"/ui/runs/{chart_run}")

    def series(run_id: str, key: str, points: int) -> Request:
        return Request(
            "GET", f"/ui/runs/{run_id}/series?{urlencode({'key': key, 'points': points})}"
        )

    def runs_page(**query: str) -> list[Request]:
        return [Request("GET", f"/ui/?{urlencode(query)}" if query else "/ui/")]

    compare_series = [
        series(run_id, key, spec["compare_points"]) for key in ("auc", "loss") for run_id in ten
    ]
    return {
        "runs_page": runs_page(),
        "runs_page_experiment": runs_page(experiment=EXPERIMENT),
        "runs_sorted_metric": runs_page(sort="metrics.auc", dir="desc"),
        "runs_filtered": runs_page(filter="metrics.auc > 0.9 and params.model = 'rf'"),
        "run_page": [run_page],
        "run_series": [series(chart_run, "loss", spec["series_points"])],
        "compare": [compare],
        "compare_screen": [compare, *compare_series],
    }, {
        "run_screen": [[run_page], [series(chart_run, "loss", spec["series_points"])]],
        "compare_browser": [[compare], compare_series],
    }


def measure(
    server: ServerProcess, port: int, name: str, sequence: list[Request], reps: int
) -> dict[str, Any]:
    """``time_requests`` of one screen, with the server's CPU per round; a page answering
    other than 200 at first is reported missing (not built yet)."""
    status = status_of(LOOPBACK, port, sequence[0].path)
    if status != 200:
        log(f"{name}: {sequence[0].path[:60]} answered {status}")
        return {"missing": f"{sequence[0].path[:60]} answered {status}"}
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
    store_uri = spec.get("store_uri") or f"sqlite:///{workdir / 'loopml.db'}"
    loaded = load(store_uri, corpus)
    port = free_port()
    measures: dict[str, Any] = {}
    with loopml_server(store_uri, workdir, port, spec.get("workers", 1)) as server:
        log(f"loopml server ready in {server.ready_seconds:.2f} s")
        server.settle()
        sequences, screens = requests(corpus, spec)
        first = {n: seq for n, seq in sequences.items() if n not in MEASURED_LAST}
        for name, sequence in first.items():
            measures[name] = measure(server, port, name, sequence, spec["reps"])
        if not any("missing" in measures[n] for n in ("run_page", "compare")):
            for name, phases in screens.items():
                measures[name] = time_phases(LOOPBACK, port, phases, reps=spec["reps"])
                log(f"{name}: median {measures[name]['median_ms']:.1f} ms")
        for name in MEASURED_LAST:
            measures[name] = measure(server, port, name, sequences[name], spec["reps"])
    backend = store_uri.split(":", 1)[0]
    return {**loaded, "backend": backend, "workers": spec.get("workers", 1), "measures": measures}


def main() -> None:
    args = parse_side_args(BENCHES)
    result = bench_dashboard(args.workdir, args.spec)
    emit({"tool": "loopml", "version": loopml.__version__, **result})


if __name__ == "__main__":
    main()
