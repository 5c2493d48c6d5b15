"""Model serving: `loopml serve` beside `mlflow models serve`, one-row JSON requests, in one run.

    .venv/bin/python benchmarks/run_serving.py                  # ~6 min
    .venv/bin/python benchmarks/run_serving.py --seconds 5 --models logistic
    .venv/bin/python benchmarks/run_serving.py --seconds 8 --models logistic --repeat 3

Both tools serve the same two models (``_serving_models.py``: LogisticRegression and a
100-tree RandomForest on scikit-learn's breast-cancer data; loopml serves the forest's checked
ONNX variant, as it does by default). MLflow runs in its own virtualenv
(``benchmarks/.venvs/mlflow``, created on first use) as ``mlflow models serve --env-manager
local`` (uvicorn, one worker, its default); loopml as ``loopml serve REF --workers 2``, with
its prediction log on (the default) and off (``--no-log``), to price the log.
Load comes from ``wrk`` (installed with apt-get when missing and this runs as root) with a
Lua script that POSTs ``{"inputs": [[30 numbers]]}`` to ``/invocations`` — a format both
servers take — over keep-alive connections: at concurrency 1 (one connection) and 16 (16
connections, 2 threads), each for ``--seconds`` after a warm-up. Before timing, one request
to each server must return the prediction the model gives locally. Prints requests/s and
p50 / p99 latency per case, loopml's throughput over MLflow's, and the goals of issue 6
(≥ 20× MLflow's throughput at concurrency 16 for both models; p50 ≤ 2 ms at concurrency 1;
the prediction log costs ≤ 10% of throughput);
raw numbers go to ``benchmarks/results/serving-<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from _harness import LOOPBACK, RESULT_PREFIX, ServerProcess, free_port
from _tables import markdown_table
from _venvs import venv_python
from run_tracking import MLFLOW_SPEC, MLFLOW_VENV, ensure_mlflow, machine_info

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MODELS = ("logistic", "forest")
CONCURRENCY = (1, 16)
GOAL_RATIO = 20.0  # issue 6: ≥ 20× MLflow's throughput at concurrency 16
GOAL_P50_MS = 2.0  # issue 6: p50 ≤ 2 ms at concurrency 1
GOAL_LOG_COST = 0.10  # issue 6: prediction logging costs ≤ 10% of throughput
NO_LOG = "loopml-nolog"  # loopml with --no-log, to price the prediction log

LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%s]==]
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("wrk is not installed; install it (apt-get install wrk) and run again.")
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    return shutil.which("wrk") or sys.exit("apt-get did not install wrk")


def register(tool: str, python: Path, workdir: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPML_", "MLFLOW_"))}
    env["PYTHONPATH"] = str(HERE)
    done = subprocess.run(
        [str(python), str(HERE / "_serving_models.py"), tool, "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        env=env,
        cwd=workdir,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return dict(json.loads(line[len(RESULT_PREFIX) :]))
    sys.exit(f"registering the {tool} models failed:\n{done.stderr[-3000:]}")


def server_command(tool: str, info: dict[str, Any], model: str, port: int) -> list[str]:
    if tool.startswith("loopml"):
        loopml = str(Path(sys.executable).parent / "loopml")
        ref = info["refs"][model]
        command = [loopml, "serve", ref, "--port", str(port), "--workers", "2", "--quiet"]
        return command + (["--no-log"] if tool == NO_LOG else [])
    mlflow = str(venv_python(MLFLOW_VENV).parent / "mlflow")
    return [
        mlflow, "models", "serve", "-m", info["refs"][model], "--env-manager", "local",
        "--host", LOOPBACK, "-p", str(port),
    ]  # fmt: skip


def one_prediction(url: str, body: bytes) -> Any:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["predictions"][0]


_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(wrk: str, url: str, script: Path, connections: int, seconds: int) -> dict[str, Any]:
    threads = min(connections, 2)
    base = [wrk, f"-t{threads}", f"-c{connections}", "--latency", "-s", str(script)]
    subprocess.run([*base, "-d2s", url], capture_output=True, check=True)  # warm-up
    done = subprocess.run([*base, f"-d{seconds}s", url], capture_output=True, text=True, check=True)
    text = done.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    latency = {f"p{p}_ms": float(v) * _UNITS[u] for p, v, u in _LATENCY.findall(text)}
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    socket_errors = re.search(r"Socket errors: (.*)", text)
    return {
        "requests_per_s": rate,
        **latency,
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=15, help="measured seconds per case")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of every case, tools taking turns; medians"
    )
    parser.add_argument("--mlflow-spec", default=MLFLOW_SPEC)
    args = parser.parse_args()
    wrk = ensure_wrk()
    mlflow_version = ensure_mlflow(args.mlflow_spec)
    pythons = {"loopml": Path(sys.executable), "mlflow": venv_python(MLFLOW_VENV)}
    results: dict[str, Any] = {"machine": machine_info(mlflow_version), "cases": []}
    with tempfile.TemporaryDirectory(prefix="loopml-bench-serving-") as scratch:
        root = Path(scratch)
        infos = {}
        for tool, python in pythons.items():
            (root / tool).mkdir()
            infos[tool] = register(tool, python, root / tool)
        row = infos["loopml"]["row"]
        body = json.dumps({"inputs": [row]})
        script = root / "post.lua"
        script.write_text(LUA % body, encoding="utf-8")
        infos[NO_LOG] = infos["loopml"]
        rounds = [(model, r) for model in args.models for r in range(args.repeat)]
        for model, round_index in rounds:
            for tool in ("mlflow", NO_LOG, "loopml"):
                port = free_port()
                env = {"MLFLOW_TRACKING_URI": infos[tool].get("tracking_uri", "")}
                if tool == "mlflow":  # it execs the uvicorn of its own venv
                    bin_dir = venv_python(MLFLOW_VENV).parent
                    env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
                url = f"http://{LOOPBACK}:{port}"
                cmd = server_command(tool, infos[tool], model, port)
                print(f"{tool} serving {model}: {' '.join(cmd)}", flush=True)
                with ServerProcess(
                    cmd, f"{url}/ping", log_path=root / f"{tool}-{model}.log",
                    env=env, cwd=root / tool.split("-")[0],
                ) as server:  # fmt: skip
                    server.settle()
                    prediction = one_prediction(f"{url}/invocations", body.encode())
                    for connections in CONCURRENCY:
                        measured = run_wrk(
                            wrk, f"{url}/invocations", script, connections, args.seconds
                        )
                        if measured["non_2xx"] or measured["socket_errors"]:
                            sys.exit(f"{tool} answered errors under load: {measured}")
                        case = {"tool": tool, "model": model, "concurrency": connections,
                                "round": round_index}  # fmt: skip
                        results["cases"].append({**case, **measured, "prediction": prediction})
                        print(f"  c={connections}: {measured}", flush=True)
    report(results)
    out = HERE / "results" / f"serving-{dt.datetime.now(dt.UTC).date().isoformat()}.json"
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"raw numbers: {out.relative_to(REPO)}")
    return 0


def report(results: dict[str, Any]) -> None:
    rounds: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for case in results["cases"]:
        rounds.setdefault((case["tool"], case["model"], case["concurrency"]), []).append(case)
    cases = {key: _median_case(found) for key, found in rounds.items()}
    lines = [["model", "concurrency", "MLflow req/s (p50 ms)", "loopml req/s (p50 ms)", "×"]]
    verdicts = []
    for (tool, model, connections), mine in sorted(cases.items()):
        if tool != "loopml" or ("mlflow", model, connections) not in cases:
            continue
        theirs = cases[("mlflow", model, connections)]
        ratio = mine["requests_per_s"] / theirs["requests_per_s"]
        lines.append(
            [
                model,
                str(connections),
                f"{theirs['requests_per_s']:.0f} ({theirs.get('p50_ms', float('nan')):.2f})",
                f"{mine['requests_per_s']:.0f} ({mine.get('p50_ms', float('nan')):.2f})",
                f"{ratio:.1f}×",
            ]
        )
        if connections == 16:
            verdict = "PASS" if ratio >= GOAL_RATIO else "FAIL"
            verdicts.append(
                f"{model}: {ratio:.1f}× MLflow at concurrency 16 (goal ≥ 20×) {verdict}"
            )
        if connections == 1:
            p50 = mine.get("p50_ms", float("inf"))
            verdict = "PASS" if p50 <= GOAL_P50_MS else "FAIL"
            verdicts.append(f"{model}: p50 {p50:.2f} ms at concurrency 1 (goal ≤ 2 ms) {verdict}")
    for (tool, model, connections), off in sorted(cases.items()):
        on = cases.get(("loopml", model, connections))
        if tool != NO_LOG or on is None:
            continue
        cost = 1 - on["requests_per_s"] / off["requests_per_s"]
        verdict = "PASS" if cost <= GOAL_LOG_COST else "FAIL"
        verdicts.append(
            f"{model}: prediction log costs {cost:.1%} of throughput at concurrency "
            f"{connections} ({off['requests_per_s']:.0f} → {on['requests_per_s']:.0f} req/s; "
            f"goal ≤ 10%) {verdict}"
        )
    print(markdown_table(lines, right=(1, 2, 3, 4)))
    for line in verdicts:
        print(line)


def _median_case(found: list[dict[str, Any]]) -> dict[str, Any]:
    """The medians of a case's rounds (requests/s and p50 each on its own)."""
    return {
        key: statistics.median(case[key] for case in found if key in case)
        for key in ("requests_per_s", "p50_ms")
    }


if __name__ == "__main__":
    sys.exit(main())
