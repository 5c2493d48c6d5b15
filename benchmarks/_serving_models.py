"""Register the two models of ``run_serving.py`` in a fresh store; runs in loopml's venv or in
MLflow's (``python _serving_models.py loopml|mlflow --workdir DIR``) and prints one
``BENCH_RESULT {json}`` line naming what to serve.

The models are the issue's: on scikit-learn's breast-cancer data, ``LogisticRegression
(max_iter=5000)`` and ``RandomForestClassifier(n_estimators=100, random_state=0)``, fitted
the same way on both sides. loopml registers the forest with its checked ONNX variant (what
its server prefers); MLflow logs both with its sklearn flavor (skops, the forest's tree type
trusted, pip requirements given so nothing is inferred).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from _harness import emit

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


def fit() -> tuple[dict[str, Any], Any]:
    from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
    from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    x, y = load_breast_cancer(return_X_y=True)
    models = {
        "logistic": LogisticRegression(max_iter=5000).fit(x, y),
        "forest": RandomForestClassifier(n_estimators=100, random_state=0).fit(x, y),
    }
    return models, x


def register_loopml(workdir: Path) -> dict[str, Any]:
    import loopml.models
    from loopml.core.config import init_project
    from loopml.tracking.client import Client

    models, x = fit()
    config = init_project(workdir)
    with Client(config=config) as client:
        for name, model in models.items():
            onnx = name == "forest"
            loopml.models.register(name, model, input_example=x[:5], onnx=onnx, client=client)
            loopml.models.set_alias(name, "champion", 1, client=client)
    return {"refs": {name: f"{name}@champion" for name in models}, "row": x[0].tolist()}


def register_mlflow(workdir: Path) -> dict[str, Any]:
    import importlib.metadata as metadata

    import mlflow
    import mlflow.sklearn

    models, x = fit()
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment(
        "serving", artifact_location=(workdir / "mlruns").as_uri()
    )
    pins = [f"{n}=={metadata.version(n)}" for n in ("mlflow", "scikit-learn", "skops", "numpy")]
    for name, model in models.items():
        with mlflow.start_run(experiment_id=experiment):
            mlflow.sklearn.log_model(
                model,
                name="model",
                input_example=x[:5],
                registered_model_name=name,
                pip_requirements=pins,
                skops_trusted_types=["sklearn.tree._tree.Tree"],
            )
    return {
        "refs": {name: f"models:/{name}/1" for name in models},
        "row": x[0].tolist(),
        "tracking_uri": uri,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tool", choices=("loopml", "mlflow"))
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()
    register = register_loopml if args.tool == "loopml" else register_mlflow
    emit(register(args.workdir))


if __name__ == "__main__":
    main()
