"""Single-row inference: a 100-tree random forest through scikit-learn vs its ONNX variant.

    .venv/bin/python benchmarks/run_onnx.py            # ~1 min
    .venv/bin/python benchmarks/run_onnx.py --calls 500

The forest (``RandomForestClassifier(n_estimators=100, random_state=0)`` on scikit-learn's
breast-cancer data) is registered once with ``onnx=True`` in a fresh temporary project; both
variants are then loaded back from the registry the way a server would (``load(ref)`` and
``load(ref, variant="onnx")``) and timed in the same process, taking turns in blocks, on
single rows of the data: ``predict`` and ``predict_proba``, one row per call. Off the clock,
both variants must give the same labels on all 569 rows. Prints median and p95 per call and
the speed-up, and writes the raw numbers to ``benchmarks/results/onnx-<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _tables import markdown_table
from run_tracking import machine_info

HERE = Path(__file__).resolve().parent
BLOCK = 50  # calls per turn


def _time_calls(function: Any, rows: list[np.ndarray]) -> list[float]:
    timings = []
    for row in rows:
        start = time.perf_counter()
        function(row)
        timings.append(time.perf_counter() - start)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="single-row calls per measure")
    args = parser.parse_args()

    from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
    from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped]

    import loopml.models
    from loopml.core.config import init_project
    from loopml.tracking.client import Client

    x, y = load_breast_cancer(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(x, y)
    with tempfile.TemporaryDirectory(prefix="loopml-bench-onnx-") as scratch:
        config = init_project(Path(scratch))
        with Client(config=config) as client:
            loopml.models.register("rf", forest, input_example=x[:50], onnx=True, client=client)
            variants = {
                "scikit-learn": loopml.models.load("rf@1", client=client),
                "ONNX Runtime": loopml.models.load("rf@1", variant="onnx", client=client),
            }
    labels = {name: model.predict(x) for name, model in variants.items()}
    if not all(np.array_equal(found, forest.predict(x)) for found in labels.values()):
        print("the variants disagree with the forest", file=sys.stderr)
        return 1

    rows = [x[i % len(x)][None, :] for i in range(args.calls)]
    timings: dict[str, dict[str, list[float]]] = {
        name: {"predict": [], "predict_proba": []} for name in variants
    }
    for model in variants.values():  # warm-up
        _time_calls(model.predict, rows[:20])
    for start in range(0, args.calls, BLOCK):
        block = rows[start : start + BLOCK]
        for method in ("predict", "predict_proba"):
            for name, model in variants.items():
                timings[name][method] += _time_calls(getattr(model, method), block)

    def summary(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        return {
            "median_us": statistics.median(ordered) * 1e6,
            "p95_us": ordered[int(0.95 * (len(ordered) - 1))] * 1e6,
        }

    results = {
        name: {method: summary(values) for method, values in methods.items()}
        for name, methods in timings.items()
    }
    lines = [["single row", "scikit-learn median (p95)", "ONNX median (p95)", "speed-up"]]
    for method in ("predict", "predict_proba"):
        slow, fast = results["scikit-learn"][method], results["ONNX Runtime"][method]
        lines.append(
            [
                method,
                f"{slow['median_us']:.0f} µs ({slow['p95_us']:.0f})",
                f"{fast['median_us']:.1f} µs ({fast['p95_us']:.1f})",
                f"{slow['median_us'] / fast['median_us']:.0f}×",
            ]
        )
    print(markdown_table(lines, right=(1, 2, 3)))
    today = dt.datetime.now(dt.UTC).date().isoformat()
    out = HERE / "results" / f"onnx-{today}.json"
    out.parent.mkdir(exist_ok=True)
    document = {"machine": machine_info(None), "calls": args.calls, "results": results}
    out.write_text(json.dumps(document, indent=2), encoding="utf-8")
    print(f"raw numbers: {out.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
