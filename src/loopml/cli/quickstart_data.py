"""The quickstart's data: scikit-learn's bundled breast-cancer table (no network), a fifth
held out, both written as CSV into a project's ``data/`` folder. ``loopml quickstart
--data-only`` writes just these, for the README's and docs' examples to run on.

>>> files = write_example_data(Path("demo"))  # doctest: +SKIP
>>> files.train.name, files.holdout.name  # doctest: +SKIP
('breast_cancer.csv', 'breast_cancer_holdout.csv')
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DATASET", "HOLDOUT", "TARGET", "ExampleData", "write_example_data"]

DATASET = "breast_cancer"
HOLDOUT = "breast_cancer_holdout"  # never trained on; gates score here
TARGET = "target"  # 1 = benign, 0 = malignant, as scikit-learn codes it


@dataclass(frozen=True)
class ExampleData:
    """The two CSV files written: the training rows and the held-out fifth."""

    train: Path
    holdout: Path


def write_example_data(folder: Path, *, bad_batch: bool = False) -> ExampleData:
    """Write ``data/breast_cancer.csv`` (four fifths, stratified, seed 0) and
    ``data/breast_cancer_holdout.csv`` (the rest) into ``folder``: 30 numeric features with
    underscores for spaces, then ``target``. With ``bad_batch`` a labelling job marked every
    third malignant training row benign (the holdout stays correct)."""
    from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
    from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

    bunch = load_breast_cancer()
    header = [str(name).replace(" ", "_") for name in bunch.feature_names] + [TARGET]
    rows = list(range(len(bunch.target)))
    train, holdout = train_test_split(rows, test_size=0.2, random_state=0, stratify=bunch.target)
    labels = [int(label) for label in bunch.target]
    if bad_batch:  # malignant (0) relabelled benign (1), every third training row
        mislabelled = set(train[::3])
        labels = [1 if i in mislabelled else label for i, label in enumerate(labels)]
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    files = ExampleData(data / f"{DATASET}.csv", data / f"{HOLDOUT}.csv")
    for path, chosen in ((files.holdout, holdout), (files.train, train)):
        with path.open("w", encoding="utf-8", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(header)
            for i in sorted(chosen):
                writer.writerow([repr(float(v)) for v in bunch.data[i]] + [labels[i]])
    return files
