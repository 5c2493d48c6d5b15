"""One CBPE measurement by one tool, run in that tool's virtualenv by ``run_cbpe.py``.

    python _cbpe_side.py TOOL --reference ref.parquet --analysis ana.parquet --chunks 10

TOOL is ``loopml`` (``loopml.monitoring.cbpe.fit_cbpe`` on the reference, ``estimate`` per
chunk; runs in loopml's venv) or ``nannyml`` (``nannyml.CBPE``, binary classification, the
same metrics, ``chunk_number`` chunks). Both read the Parquet files before the clock starts;
the clock covers fitting on the reference and estimating every analysis chunk (imports
before it, as ``import nannyml`` imports scikit-learn; the process's wall time includes
them). Prints one
line ``BENCH_RESULT {json}``: seconds, per metric the estimate and its standard error of
each chunk, the tool's version.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCH_RESULT "
METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1")


def loopml(reference: Path, analysis: Path, chunks: int) -> dict[str, Any]:
    import numpy as np
    import pyarrow.parquet as pq
    import sklearn.isotonic  # noqa: F401  imported before the clock, as NannyML's import does

    import loopml as package
    from loopml.monitoring.cbpe import fit_cbpe

    ref, ana = pq.read_table(reference), pq.read_table(analysis)
    ref_true, ref_scores = ref["y_true"].to_numpy(), ref["y_pred_proba"].to_numpy()
    scores = ana["y_pred_proba"].to_numpy()
    start = time.perf_counter()
    estimator = fit_cbpe(ref_true, ref_scores)
    estimates = [estimator.estimate(part) for part in np.array_split(scores, chunks)]
    seconds = time.perf_counter() - start
    found = {
        name: {
            "value": [e[name].value for e in estimates],
            "standard_error": [e[name].standard_error for e in estimates],
        }
        for name in METRICS
    }
    return {"seconds": seconds, "version": package.__version__, "metrics": found}


def nannyml(reference: Path, analysis: Path, chunks: int) -> dict[str, Any]:
    import nannyml as nml
    import pandas as pd

    ref, ana = pd.read_parquet(reference), pd.read_parquet(analysis)
    start = time.perf_counter()
    estimator = nml.CBPE(
        y_pred_proba="y_pred_proba",
        y_pred="y_pred",
        y_true="y_true",
        problem_type="classification_binary",
        metrics=list(METRICS),
        chunk_number=chunks,
    )
    estimator.fit(ref)
    result = estimator.estimate(ana).filter(period="analysis").to_df()
    seconds = time.perf_counter() - start
    found = {
        name: {
            "value": [float(v) for v in result[(name, "value")]],
            "standard_error": [float(v) for v in result[(name, "sampling_error")]],
        }
        for name in METRICS
    }
    return {"seconds": seconds, "version": nml.__version__, "metrics": found}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tool", choices=["loopml", "nannyml"])
    parser.add_argument("--reference", type=Path, required=True)
    parser.add_argument("--analysis", type=Path, required=True)
    parser.add_argument("--chunks", type=int, default=10)
    args = parser.parse_args()
    run = loopml if args.tool == "loopml" else nannyml
    print(RESULT_PREFIX + json.dumps(run(args.reference, args.analysis, args.chunks)), flush=True)


if __name__ == "__main__":
    main()
