"""What auth costs the tracking hot path: remote ``log_metric`` (and single small requests)
through ``loopml server`` with auth off and on (goal: ≤ 5% fewer metrics/s with auth on).

Two servers over SQLite in fresh folders, one started with ``LOOPML_AUTH=1`` and an editor's
token made embedded first; rounds alternate between them so that the machine's load hits both
alike. ``log_metric`` is batched by the client (as in ``run_tracking.py``), so it sends few
requests; ``get_run`` one at a time is the worst case: every request resolves its token (from
the server's cache). Prints medians, the ratio and the server's CPU per request.

    .venv/bin/python benchmarks/run_auth_overhead.py            # 3 rounds
    .venv/bin/python benchmarks/run_auth_overhead.py --quick    # 1 round, fewer calls
"""

from __future__ import annotations

import argparse
import tempfile
from contextlib import ExitStack
from pathlib import Path

from _harness import LOOPBACK, ServerProcess, free_port, median, timed
from _loopml_side import loopml_server

import loopml
from loopml import Client
from loopml.core.roles import Role
from loopml.stores.identity.sql import SqlIdentityStore

GOAL_RATIO = 0.95


def _editor_token(folder: Path) -> str:
    store = SqlIdentityStore(f"sqlite:///{folder / 'loopml.db'}")
    try:
        store.add_user("bench")
        store.grant_role("bench", "default", Role.EDITOR)
        return store.create_token("bench").secret
    finally:
        store.close()


def _log_metrics(client: Client, n: int) -> float:
    def body() -> None:
        with loopml.start_run(client=client, experiment="bench") as run:
            for i in range(n):
                run.log_metric("loss", 1.0 / (i + 1), step=i)

    return n / timed(body)


def _small_requests(
    client: Client, run_id: str, n: int, server: ServerProcess
) -> tuple[float, float]:
    cpu = server.cpu_seconds()

    def body() -> None:
        for _ in range(n):
            client.metadata.get_run(run_id)

    per_second = n / timed(body)
    return per_second, (server.cpu_seconds() - cpu) * 1000 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds, metrics, requests = (1, 5_000, 300) if args.quick else (3, 50_000, 2_000)
    results: dict[str, dict[str, list[float]]] = {
        mode: {"metrics": [], "requests": [], "cpu_ms": []} for mode in ("off", "on")
    }
    with ExitStack() as stack:
        clients: dict[str, tuple[Client, ServerProcess, str]] = {}
        for mode in ("off", "on"):
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="loopml-auth-")))
            token = _editor_token(folder) if mode == "on" else None
            env = {"LOOPML_AUTH": "1" if mode == "on" else "0"}
            server = stack.enter_context(loopml_server(folder, free_port(), env=env))
            server.settle()
            url = server.health_url.removesuffix("/api/v1/health")
            client = stack.enter_context(Client(server_url=url, token=token))
            run_id = client.create_run("bench").id  # warm-up: imports, the experiment, a token
            clients[mode] = (client, server, run_id)
        for index in range(rounds):
            for mode, (client, server, run_id) in clients.items():
                results[mode]["metrics"].append(_log_metrics(client, metrics))
                per_second, cpu_ms = _small_requests(client, run_id, requests, server)
                results[mode]["requests"].append(per_second)
                results[mode]["cpu_ms"].append(cpu_ms)
                print(
                    f"round {index + 1}, auth {mode}: {results[mode]['metrics'][-1]:,.0f} "
                    f"metrics/s, {per_second:,.0f} get_run/s, server CPU {cpu_ms:.3f} ms/request",
                    flush=True,
                )
    off, on = results["off"], results["on"]
    ratio = median(on["metrics"]) / median(off["metrics"])
    print(
        f"log_metric through the server: off {median(off['metrics']):,.0f}/s, on "
        f"{median(on['metrics']):,.0f}/s, on/off {ratio:.3f} (goal ≥ {GOAL_RATIO})"
    )
    print(
        f"get_run one at a time: off {median(off['requests']):,.0f}/s, on "
        f"{median(on['requests']):,.0f}/s, on/off "
        f"{median(on['requests']) / median(off['requests']):.3f}; server CPU per request "
        f"off {median(off['cpu_ms']):.3f} ms, on {median(on['cpu_ms']):.3f} ms"
    )
    print(f"host: {LOOPBACK}; {'PASS' if ratio >= GOAL_RATIO else 'FAIL'}")


if __name__ == "__main__":
    main()
