"""SHAP values of a 100-tree random forest on 1,000 rows: loopml's explainer vs shap's own.

    .venv/bin/python benchmarks/run_explain.py            # ~1 min
    .venv/bin/python benchmarks/run_explain.py --deep     # also forests of deep trees (slow)

The forest is ``RandomForestClassifier(n_estimators=100, random_state=0)`` on scikit-learn's
breast-cancer data (30 features; as in ``run_onnx.py``), explained on 1,000 rows (its 569
rows, cycled) three ways, taking turns, in one process (imports and a warm-up call off the
clock):

- loopml: ``make_explainer(forest, background).explain(rows)`` (what ``loopml explain``,
  ``POST /explain`` and registration run: shap's TreeExplainer and loopml's bookkeeping);
- shap: ``shap.TreeExplainer(forest).shap_values(rows)``, as a user of shap would call it;
- loopml at registration: ``write_explanations`` on those rows (sampling, JSON, files).

Off the clock, loopml's values must equal shap's. Goal (issue 15): loopml ≤ 2 s. ``--deep``
adds the same on a forest of deep trees (10 synthetic features, an interaction, 2,000
training rows: ~10× the leaves): exact TreeSHAP costs trees × leaves × depth² per row, so
it is much slower there, in loopml and shap alike. Prints the medians and writes the raw
timings to ``benchmarks/results/explain-<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _tables import markdown_table
from run_tracking import machine_info

HERE = Path(__file__).resolve().parent
GOAL_SECONDS = 2.0


def _timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def _forests(deep: bool) -> dict[str, tuple[Any, Any]]:
    """name → (forest, 1,000 rows to explain as a DataFrame)."""
    import pandas as pd
    from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
    from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped]

    data = load_breast_cancer(as_frame=True)
    x = data.data
    found = {
        "breast cancer (30 features)": (
            RandomForestClassifier(n_estimators=100, random_state=0).fit(x, data.target),
            x.iloc[np.arange(1000) % len(x)].reset_index(drop=True),
        )
    }
    if deep:
        rng = np.random.default_rng(0)
        columns = [f"f{i}" for i in range(10)]
        train = pd.DataFrame(rng.normal(size=(2000, 10)), columns=columns)
        labels = (train["f0"] + train["f1"] * train["f2"] > 0).astype(int)
        found["deep trees (10 features)"] = (
            RandomForestClassifier(n_estimators=100, random_state=0).fit(train, labels),
            pd.DataFrame(rng.normal(size=(1000, 10)), columns=columns),
        )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per side")
    parser.add_argument("--deep", action="store_true", help="also a forest of deep trees")
    args = parser.parse_args()

    import shap

    from loopml.models.explainers import make_explainer
    from loopml.models.explanations import write_explanations
    from loopml.models.signature import infer_signature

    timings: dict[str, dict[str, list[float]]] = {}
    shapes: dict[str, dict[str, float]] = {}
    for case, (forest, rows) in _forests(args.deep).items():
        shapes[case] = {
            "leaves": float(np.mean([t.get_n_leaves() for t in forest.estimators_])),
            "depth": float(np.mean([t.get_depth() for t in forest.estimators_])),
        }
        signature = infer_signature(rows.head(5), forest.predict(rows.head(5)))

        def loopml_side(forest: Any = forest, rows: Any = rows) -> Any:
            return make_explainer(forest, rows.head(50)).explain(rows)

        def shap_side(forest: Any = forest, rows: Any = rows) -> Any:
            return shap.TreeExplainer(forest).shap_values(rows)

        with tempfile.TemporaryDirectory(prefix="loopml-bench-explain-") as scratch:

            def registration_side(
                forest: Any = forest, rows: Any = rows, signature: Any = signature
            ) -> Any:
                return write_explanations(forest, signature, rows, Path(scratch))

            ours = np.asarray(loopml_side().values)[:, :, 0]
            theirs = np.asarray(shap_side())[:, :, 1]
            if not np.allclose(ours, theirs, atol=1e-12):
                print(f"{case}: loopml's values differ from shap's", file=sys.stderr)
                return 1
            registration_side()  # warm-up
            sides = {"loopml": loopml_side, "shap": shap_side, "registration": registration_side}
            timings[case] = {name: [] for name in sides}
            repeats = args.repeats if case.startswith("breast") else 1
            for _ in range(repeats):
                for name, side in sides.items():
                    timings[case][name].append(_timed(side))
    medians = {
        case: {name: statistics.median(values) for name, values in sides_.items()}
        for case, sides_ in timings.items()
    }
    main_case = medians["breast cancer (30 features)"]
    verdict = "PASS" if main_case["loopml"] <= GOAL_SECONDS else "FAIL"
    lines = [
        [
            "100-tree forest, 1,000 rows",
            "trees (mean)",
            "shap",
            "loopml",
            "registration",
            "goal",
            "result",
        ]
    ]
    for case, found in medians.items():
        lines.append(
            [
                case,
                f"{shapes[case]['leaves']:.0f} leaves, depth {shapes[case]['depth']:.1f}",
                f"{found['shap']:.3f} s",
                f"{found['loopml']:.3f} s",
                f"{found['registration']:.3f} s",
                "≤ 2 s" if case.startswith("breast") else "—",
                verdict if case.startswith("breast") else "",
            ]
        )
    print(markdown_table(lines, right=(2, 3, 4)))
    today = dt.datetime.now(dt.UTC).date().isoformat()
    out = HERE / "results" / f"explain-{today}.json"
    out.parent.mkdir(exist_ok=True)
    document = {
        "machine": machine_info(None),
        "shap": shap.__version__,
        "repeats": args.repeats,
        "trees": shapes,
        "timings_s": timings,
        "medians_s": medians,
    }
    out.write_text(json.dumps(document, indent=2), encoding="utf-8")
    print(f"raw numbers: {out.relative_to(HERE.parent)}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
