"""Tuning throughput: 50 trials of a small model, one after another in this process vs as Ray
tasks on a local Ray runtime with 2 CPUs (issue 4; goal: Ray ≥ 1.7× faster).

    .venv/bin/python benchmarks/run_tuning.py                  # 50 trials, 3 repetitions
    .venv/bin/python benchmarks/run_tuning.py --trials 20 --repeat 1

Each trial 3-fold cross-validates a random forest of 40 trees on the breast-cancer data
(scikit-learn's bundled copy) with a searched max_depth / min_samples_leaf / max_features;
n_estimators is fixed so that every trial costs about the same whatever the sampler picks.
Every repetition runs in a fresh embedded project (SQLite + a local folder). The Ray runtime
is started once, before the timed runs (its start-up is reported on its own), with
``RAY_TMPDIR`` in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from loopml.core.config import init_project
from loopml.pipelines import integer, tune, uniform
from loopml.tracking.client import Client

HERE = Path(__file__).resolve().parent
GOAL_SPEEDUP = 1.7
CPUS = 2


def objective(params: dict[str, Any], trial: Any) -> float:
    """3-fold cross-validated AUC of a 40-tree forest (runs wherever the executor puts it)."""
    from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
    from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped]
    from sklearn.model_selection import cross_val_score  # type: ignore[import-untyped]

    x, y = load_breast_cancer(return_X_y=True)
    model = RandomForestClassifier(
        n_estimators=40,
        max_depth=params["max_depth"],
        min_samples_leaf=params["min_samples_leaf"],
        max_features=params["max_features"],
        random_state=0,
        n_jobs=1,
    )
    return float(cross_val_score(model, x, y, cv=3, scoring="roc_auc").mean())


SPACE = {
    "max_depth": integer(2, 12),
    "min_samples_leaf": integer(1, 8),
    "max_features": uniform(0.2, 0.9),
}


def one_search(executor: str, trials: int) -> float:
    with tempfile.TemporaryDirectory(prefix="loopml-bench-tune-") as folder:
        config = init_project(Path(folder))
        with Client(config=config, create=False) as client:
            started = time.perf_counter()
            result = tune(
                objective, SPACE, n_trials=trials, seed=0, client=client, executor=executor
            )
            seconds = time.perf_counter() - started
            assert len(result.trials) == trials
            return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import ray

    ray_tmp = tempfile.mkdtemp(prefix="ray-bench-")
    os.environ.update(
        {"RAY_TMPDIR": ray_tmp, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    )
    started = time.perf_counter()
    ray.init(
        address="local",
        num_cpus=CPUS,
        include_dashboard=False,
        logging_level="warning",
        _temp_dir=ray_tmp,
    )
    ray_start = time.perf_counter() - started
    one_search("ray", 4)  # warm the Ray workers (imports), as a long-lived cluster would be

    local: list[float] = []
    remote: list[float] = []
    for repetition in range(args.repeat):  # interleaved, so drift hits both sides alike
        local.append(one_search("local", args.trials))
        remote.append(one_search("ray", args.trials))
        print(
            f"repetition {repetition + 1}: local {local[-1]:.2f} s, ray {remote[-1]:.2f} s",
            file=sys.stderr,
        )
    ray.shutdown()

    speedup = statistics.median(local) / statistics.median(remote)
    report = {
        "date": date.today().isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "ray_version": ray.__version__,
        "trials": args.trials,
        "ray_cpus": CPUS,
        "ray_start_s": round(ray_start, 2),
        "local_s": [round(s, 2) for s in local],
        "ray_s": [round(s, 2) for s in remote],
        "speedup_median": round(speedup, 2),
        "goal_speedup": GOAL_SPEEDUP,
        "pass": speedup >= GOAL_SPEEDUP,
    }
    out = HERE / "results" / f"tuning-{report['date']}.json"
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    print(
        f"{args.trials} trials: local {statistics.median(local):.2f} s, Ray ({CPUS} CPUs) "
        f"{statistics.median(remote):.2f} s → {speedup:.2f}× (goal ≥ {GOAL_SPEEDUP}×: "
        f"{'PASS' if report['pass'] else 'FAIL'}); Ray start-up {ray_start:.1f} s. "
        f"Written to {out}."
    )


if __name__ == "__main__":
    main()
