"""Performance before labels: loopml's CBPE beside NannyML's, on the same data, one run.

    .venv/bin/python benchmarks/run_cbpe.py                  # 100,000 reference / 1,000,000
    .venv/bin/python benchmarks/run_cbpe.py --quick          # 10,000 / 100,000 rows
    .venv/bin/python benchmarks/run_cbpe.py --reference-rows 50000 --analysis-rows 500000

NannyML (``nannyml==0.13.*``) is installed into its own virtualenv (``benchmarks/.venvs/
nannyml``, shared with ``run_drift.py``) on first use.

Method:

- The data: a binary classifier's outputs. Each row has a latent ``z``; the true probability
  of the positive class is ``sigmoid(z)`` and the label is drawn from it; the model's score is
  an overconfident ``sigmoid(1.6 z + 0.2)`` (so calibration matters, and NannyML's check that
  calibration helps says yes); the predicted label is ``score >= 0.5``. The reference draws
  ``z ~ N(0, 2)``; the analysis moves toward the decision boundary chunk by chunk (covariate
  shift: ``z ~ N(0, 2 − 1.5 k/(chunks − 1))`` in chunk ``k``), so the accuracy decays.
  Written once as Parquet.
- Both tools fit on the reference and estimate ROC AUC, accuracy, precision, recall and F1
  for each of ``--chunks`` equal analysis chunks; the labels of the analysis give the realised
  values. Each tool runs in its own process (``_cbpe_side.py``), reads the Parquet files before
  its clock starts; the clock covers fitting and estimating. Peak memory is the process's
  peak resident set size (``ru_maxrss`` from ``wait4``), interpreter and frames included.
- Reported: seconds and peak MiB of each tool and their ratios, and per metric the largest
  difference between the two tools' estimates and each tool's largest error against the
  realised values, over the chunks.

Output: a table and ``benchmarks/results/cbpe-<date>.json`` (``-quick`` for ``--quick``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from _tables import markdown_table
from _venvs import VENVS, ensure_installed, venv_python
from run_drift import RESULT_PREFIX, run_measured
from run_tracking import machine_info

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
NANNYML_SPEC = "nannyml==0.13.*"
EXTRA = ("pandas<3", "statsmodels")  # as run_drift.py installs it
METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1")


def make_tables(reference_rows: int, analysis_rows: int, chunks: int, folder: Path) -> Any:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(14)

    def rows(z: Any) -> pa.Table:
        truth = (rng.random(len(z)) < 1 / (1 + np.exp(-z))).astype(np.int64)
        score = 1 / (1 + np.exp(-(1.6 * z + 0.2)))
        called = (score >= 0.5).astype(np.int64)
        return pa.table({"y_true": truth, "y_pred_proba": score, "y_pred": called})

    pq.write_table(rows(rng.normal(0, 2, reference_rows)), folder / "reference.parquet")
    sizes = [len(part) for part in np.array_split(np.empty(analysis_rows), chunks)]
    spreads = [2 - 1.5 * k / max(chunks - 1, 1) for k in range(chunks)]
    z = np.concatenate([rng.normal(0, s, n) for s, n in zip(spreads, sizes, strict=True)])
    analysis = rows(z)
    pq.write_table(analysis, folder / "analysis.parquet")
    return analysis


def realised(analysis: Any, chunks: int) -> dict[str, list[float]]:
    """The metrics of each chunk from its labels, by scikit-learn."""
    import numpy as np
    from sklearn import metrics

    out: dict[str, list[float]] = {name: [] for name in METRICS}
    truth = np.array_split(analysis["y_true"].to_numpy(), chunks)
    score = np.array_split(analysis["y_pred_proba"].to_numpy(), chunks)
    called = np.array_split(analysis["y_pred"].to_numpy(), chunks)
    for t, s, c in zip(truth, score, called, strict=True):
        out["roc_auc"].append(float(metrics.roc_auc_score(t, s)))
        out["accuracy"].append(float(metrics.accuracy_score(t, c)))
        out["precision"].append(float(metrics.precision_score(t, c)))
        out["recall"].append(float(metrics.recall_score(t, c)))
        out["f1"].append(float(metrics.f1_score(t, c)))
    return out


def run_side(tool: str, reference: Path, analysis: Path, chunks: int) -> dict[str, Any]:
    python = sys.executable if tool == "loopml" else str(venv_python(VENVS / tool))
    cmd = [python, str(HERE / "_cbpe_side.py"), tool, "--reference", str(reference)]
    cmd += ["--analysis", str(analysis), "--chunks", str(chunks)]
    measured = run_measured(cmd, expect=(0,))
    lines = [line for line in measured.pop("stdout").splitlines() if line.startswith(RESULT_PREFIX)]
    if not lines:
        raise RuntimeError(f"_cbpe_side.py {tool} printed no result")
    return {**measured, **json.loads(lines[-1][len(RESULT_PREFIX) :])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--analysis-rows", type=int, default=1_000_000)
    parser.add_argument("--chunks", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="10,000 / 100,000 rows")
    parser.add_argument("--nannyml-spec", default=NANNYML_SPEC)
    args = parser.parse_args()
    ref_rows, ana_rows = (
        (10_000, 100_000) if args.quick else (args.reference_rows, args.analysis_rows)
    )
    version = ensure_installed(
        VENVS / "nannyml", args.nannyml_spec, "nannyml", option="--nannyml-spec", also=EXTRA
    )
    machine = machine_info(None)
    machine.pop("mlflow", None)
    machine.pop("sqlite", None)
    workdir = Path(tempfile.mkdtemp(prefix="loopml-bench-cbpe-"))
    try:
        print(f"Writing {ref_rows:,} reference and {ana_rows:,} analysis rows ...", flush=True)
        analysis = make_tables(ref_rows, ana_rows, args.chunks, workdir)
        truth = realised(analysis, args.chunks)
        results = {}
        for tool in ("loopml", "nannyml"):
            print(f"  {tool} ...", flush=True)
            results[tool] = run_side(
                tool, workdir / "reference.parquet", workdir / "analysis.parquet", args.chunks
            )
            got = results[tool]
            print(f"    {got['seconds']:.2f} s, peak {got['peak_mib']:.0f} MiB", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(ref_rows, ana_rows, args, results, truth, machine, version)


def report(
    ref_rows: int,
    ana_rows: int,
    args: argparse.Namespace,
    results: dict[str, Any],
    truth: dict[str, list[float]],
    machine: dict[str, Any],
    version: str,
) -> None:
    ours, theirs = results["loopml"], results["nannyml"]
    lines = [["tool", "seconds (fit + estimate)", "NannyML ÷ tool", "process seconds",
              "peak MiB"]]  # fmt: skip
    for tool, got in results.items():
        ratio = theirs["seconds"] / got["seconds"]
        lines.append([tool, f"{got['seconds']:.2f}", f"{ratio:.1f}×",
                      f"{got['wall_seconds']:.1f}", f"{got['peak_mib']:.0f}"])  # fmt: skip
    print()
    print(markdown_table(lines, right={1, 2, 3, 4}))
    agreement = {}
    rows = [["metric", "largest |loopml − NannyML|", "largest |loopml − realised|",
             "largest |NannyML − realised|", "realised, first → last chunk"]]  # fmt: skip
    for name in METRICS:
        mine, peer = ours["metrics"][name]["value"], theirs["metrics"][name]["value"]
        real = truth[name]
        agreement[name] = {
            "max_difference": max(abs(a - b) for a, b in zip(mine, peer, strict=True)),
            "loopml_max_error": max(abs(a - r) for a, r in zip(mine, real, strict=True)),
            "nannyml_max_error": max(abs(b - r) for b, r in zip(peer, real, strict=True)),
        }
        found = agreement[name]
        errors = [found[k] for k in ("max_difference", "loopml_max_error", "nannyml_max_error")]
        span = f"{real[0]:.3f} → {real[-1]:.3f}"
        rows.append([name, f"{errors[0]:.1e}", f"{errors[1]:.4f}", f"{errors[2]:.4f}", span])
    print()
    print(markdown_table(rows, right={1, 2, 3}))
    print(
        f"\nPeak memory, loopml ÷ NannyML: {ours['peak_mib'] / theirs['peak_mib']:.2f}. "
        f"Machine: {machine['cpu']}, {machine['cores']} cores; load average "
        f"{ours['load_average_before']:.1f} → {theirs['load_average_after']:.1f}"
    )
    RESULTS.mkdir(exist_ok=True)
    name = f"cbpe-{dt.date.today().isoformat()}{'-quick' if args.quick else ''}.json"
    document = {
        "reference_rows": ref_rows,
        "analysis_rows": ana_rows,
        "chunks": args.chunks,
        "command": "benchmarks/run_cbpe.py " + " ".join(sys.argv[1:]),
        "machine": machine,
        "versions": {"nannyml": version},
        "realised": truth,
        "results": results,
        "agreement": agreement,
    }
    (RESULTS / name).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"Saved benchmarks/results/{name}")


if __name__ == "__main__":
    main()
