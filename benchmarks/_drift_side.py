"""One drift measurement by one tool, run in that tool's virtualenv by ``run_drift.py``.

    python _drift_side.py TOOL --reference ref.parquet --current cur.parquet --spec JSON

TOOL is ``evidently`` (``Report([DataDriftPreset()])``), ``nannyml``
(``UnivariateDriftCalculator``, its default methods) or ``scipy`` (bare ``scipy.stats.ks_2samp``
per numeric column, flagged at p < 0.05, and NumPy PSI on 10 reference-quantile bins per
column, categoricals flagged from 0.1; runs in loopml's venv). The frames are read
before the clock starts; the clock covers the tool's work on them. Prints one line
``BENCH_RESULT {json}``: seconds, the columns the tool flagged, its version.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCH_RESULT "


def evidently(reference: Path, current: Path, spec: dict[str, Any]) -> dict[str, Any]:
    import evidently as ev
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref, cur = pd.read_parquet(reference), pd.read_parquet(current)
    definition = DataDefinition(
        numerical_columns=spec["numeric"], categorical_columns=spec["categorical"]
    )
    start = time.perf_counter()
    ref_data = Dataset.from_pandas(ref, data_definition=definition)
    cur_data = Dataset.from_pandas(cur, data_definition=definition)
    snapshot = Report([DataDriftPreset()]).run(current_data=cur_data, reference_data=ref_data)
    found = snapshot.dict()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "version": ev.__version__, "drifted": _evidently_drifted(found)}


def _evidently_drifted(found: dict[str, Any]) -> list[str]:
    """Columns whose ValueDrift passed its threshold, from the snapshot's metric list."""
    drifted = []
    for metric in found.get("metrics", []):
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            threshold = config.get("threshold")
            value = metric.get("value")
            method = str(config.get("method", ""))
            if value is None or threshold is None:
                continue
            p_value = "p_value" in method or "test" in method.lower()
            if (value < threshold) if p_value else (value >= threshold):
                drifted.append(config.get("column"))
    return sorted(drifted)


def nannyml(reference: Path, current: Path, spec: dict[str, Any]) -> dict[str, Any]:
    import nannyml as nml
    import pandas as pd

    ref, cur = pd.read_parquet(reference), pd.read_parquet(current)
    columns = spec["numeric"] + spec["categorical"]
    start = time.perf_counter()
    calculator = nml.UnivariateDriftCalculator(
        column_names=columns,
        treat_as_categorical=spec["categorical"],
        # its thresholds come from the spread of the statistic over the reference's chunks,
        # so it needs several: 10 chunks a side, a column flagged when any current chunk is
        chunk_number=10,
    )
    calculator.fit(ref)
    results = calculator.calculate(cur).filter(period="analysis").to_df()
    seconds = time.perf_counter() - start
    drifted = sorted(
        column for column in columns if bool(results[(column, "jensen_shannon", "alert")].any())
    )
    return {"seconds": seconds, "version": nml.__version__, "drifted": drifted}


def scipy_baseline(reference: Path, current: Path, spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    import pyarrow.parquet as pq
    import scipy
    from scipy import stats

    ref, cur = pq.read_table(reference), pq.read_table(current)
    frames = {
        name: (ref.column(name).to_numpy(), cur.column(name).to_numpy())
        for name in spec["numeric"] + spec["categorical"]
    }
    start = time.perf_counter()
    drifted = []
    for name in spec["numeric"]:
        a, b = frames[name]
        p_value = stats.ks_2samp(a, b).pvalue
        edges = np.quantile(a, np.linspace(0, 1, 11))
        _psi(np.histogram(a, edges)[0], np.histogram(b, edges)[0])  # computed, as a user would
        if p_value < 0.05:
            drifted.append(name)
    for name in spec["categorical"]:
        a, b = frames[name]
        labels = np.union1d(np.unique(a), np.unique(b))
        counts_a = np.array([np.count_nonzero(a == v) for v in labels])
        counts_b = np.array([np.count_nonzero(b == v) for v in labels])
        if _psi(counts_a, counts_b) >= 0.1:
            drifted.append(name)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "version": scipy.__version__, "drifted": sorted(drifted)}


def _psi(expected: Any, actual: Any) -> float:
    import numpy as np

    e = np.maximum(expected / expected.sum(), 1e-4)
    a = np.maximum(actual / actual.sum(), 1e-4)
    return float(np.sum((a - e) * np.log(a / e)))


SIDES = {"evidently": evidently, "nannyml": nannyml, "scipy": scipy_baseline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("tool", choices=sorted(SIDES))
    parser.add_argument("--reference", type=Path, required=True)
    parser.add_argument("--current", type=Path, required=True)
    parser.add_argument("--spec", required=True, help='{"numeric": [...], "categorical": [...]}')
    args = parser.parse_args()
    result = SIDES[args.tool](args.reference, args.current, json.loads(args.spec))
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
