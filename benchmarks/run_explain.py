"""SHAP values of a 100-tree random forest on 1,000 rows: loopml's explainer vs shap's own.

    .venv/bin/python benchmarks/run_explain.py            # ~1 min
    .venv/bin/python benchmarks/run_explain.py --repeats 5

The forest (``RandomForestClassifier(n_estimators=100, random_state=0)``, 10 features, fitted
on 2,000 synthetic rows) is explained on 1,000 other rows three ways, taking turns, in one
process (imports and a warm-up call off the clock):

- loopml: ``make_explainer(forest, background).explain(rows)`` (what ``loopml explain``,
  ``POST /explain`` and registration run: shap's TreeExplainer and loopml's bookkeeping);
- shap: ``shap.TreeExplainer(forest).shap_values(rows)``, as a user of shap would call it;
- loopml at registration: ``write_explanations`` on those rows (sampling, JSON, files).

Off the clock, loopml's values must equal shap's. Goal (issue 15): loopml ≤ 2 s. Prints the
medians and writes the raw timings to ``benchmarks/results/explain-<date>.json``.
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

import numpy as np
from _tables import markdown_table
from run_tracking import machine_info

HERE = Path(__file__).resolve().parent
GOAL_SECONDS = 2.0


def _timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per side")
    args = parser.parse_args()

    import pandas as pd
    import shap
    from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped]

    from loopml.models.explainers import make_explainer
    from loopml.models.explanations import write_explanations
    from loopml.models.signature import infer_signature

    rng = np.random.default_rng(0)
    columns = [f"f{i}" for i in range(10)]
    train = pd.DataFrame(rng.normal(size=(2000, 10)), columns=columns)
    labels = (train["f0"] + train["f1"] * train["f2"] > 0).astype(int)
    rows = pd.DataFrame(rng.normal(size=(1000, 10)), columns=columns)
    forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(train, labels)

    def loopml_side() -> object:
        return make_explainer(forest, rows.head(50)).explain(rows)

    def shap_side() -> object:
        return shap.TreeExplainer(forest).shap_values(rows)

    signature = infer_signature(rows.head(5), forest.predict(rows.head(5)))
    with tempfile.TemporaryDirectory(prefix="loopml-bench-explain-") as scratch:

        def registration_side() -> object:
            return write_explanations(forest, signature, rows, Path(scratch))

        ours = np.asarray(loopml_side().values)[:, :, 0]  # type: ignore[attr-defined]
        theirs = np.asarray(shap_side())[:, :, 1]
        if not np.allclose(ours, theirs, atol=1e-12):
            print("loopml's values differ from shap's", file=sys.stderr)
            return 1
        registration_side()  # warm-up
        sides = {"loopml": loopml_side, "shap": shap_side, "registration": registration_side}
        timings: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(args.repeats):
            for name, side in sides.items():
                timings[name].append(_timed(side))
    medians = {name: statistics.median(values) for name, values in timings.items()}
    verdict = "PASS" if medians["loopml"] <= GOAL_SECONDS else "FAIL"
    lines = [
        ["100-tree forest, 1,000 rows × 10 features", "median", "goal", "result"],
        ["shap TreeExplainer (a user of shap)", f"{medians['shap']:.3f} s", "—", ""],
        ["loopml explainer", f"{medians['loopml']:.3f} s", "≤ 2 s", verdict],
        ["loopml global importance at registration", f"{medians['registration']:.3f} s", "—", ""],
    ]
    print(markdown_table(lines, right=(1,)))
    today = dt.datetime.now(dt.UTC).date().isoformat()
    out = HERE / "results" / f"explain-{today}.json"
    out.parent.mkdir(exist_ok=True)
    document = {
        "machine": machine_info(None),
        "shap": shap.__version__,
        "repeats": args.repeats,
        "timings_s": timings,
        "medians_s": medians,
    }
    out.write_text(json.dumps(document, indent=2), encoding="utf-8")
    print(f"raw numbers: {out.relative_to(HERE.parent)}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
