"""A scikit-learn pipeline, which shap's exact explainers never take, is explained by sampling
without importing shap; a forest still gets shap's exact tree explainer."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from loopml.models.explainers import make_explainer

x = np.random.default_rng(0).normal(size=(40, 3))
y = (x[:, 0] > 0).astype(int)
piped = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
print(make_explainer(piped, x[:10]).explain(x[:2]).method, "shap" in sys.modules)
forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
print(make_explainer(forest, x[:10]).explain(x[:2]).method, "shap" in sys.modules)
"""


def test_a_pipeline_is_sampled_without_importing_shap_and_a_forest_is_explained_by_it() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["sampled False", "tree True"]
