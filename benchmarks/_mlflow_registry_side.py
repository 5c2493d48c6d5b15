"""MLflow's side of ``run_registry.py``; runs inside ``benchmarks/.venvs/mlflow``.

``mlflow.sklearn.log_model(model, name=..., input_example=X[:5], registered_model_name="rf")``
inside ``mlflow.start_run()``, then ``mlflow.sklearn.load_model("models:/rf/1")`` (then
``/2``; the sklearn flavor, which returns the estimator as loopml's ``load`` does, not
pyfunc). The tracking and
registry store is a SQLite database and the artifacts a local folder, both in the fresh
working folder; telemetry is off and nothing is contacted over the network.

Variants (MLflow 3.17 stores scikit-learn models with skops by default, outside Databricks,
and refuses a forest unless its tree type is named as trusted, as its error message says):

- ``skops``: the default format, plus ``skops_trusted_types=["sklearn.tree._tree.Tree"]``, the
  one argument the call needs to succeed for a forest; the pip requirements are inferred;
- ``cloudpickle``: ``serialization_format="cloudpickle"``, the default before MLflow 3 (and
  still on Databricks): no trusted types needed, MLflow warns that pickle runs code on load;
- ``pinned``: ``skops`` with ``pip_requirements`` given, so MLflow infers none (inferring them
  loads the model in a subprocess to see what it imports).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from _registry_side import MODEL_NAME, Session, Side, main

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

VARIANTS = ("skops", "cloudpickle", "pinned")
TRUSTED = ["sklearn.tree._tree.Tree"]  # what skops does not trust by default in a forest
EXPERIMENT = "registry-bench"


def imports(variant: str) -> None:
    import mlflow
    import mlflow.sklearn  # noqa: F401


def requirements() -> list[str]:
    """What ``pinned`` gives as ``pip_requirements``: the versions installed here."""
    import importlib.metadata as metadata

    names = ("mlflow", "scikit-learn", "skops", "numpy")
    return [f"{name}=={metadata.version(name)}" for name in names]


def open_session(workdir: Path, variant: str) -> Session:
    import mlflow
    import mlflow.sklearn
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_experiment(EXPERIMENT, artifact_location=(workdir / "artifacts").as_uri())
    mlflow.set_experiment(EXPERIMENT)

    def register(model: Any, example: Any) -> dict[str, Any]:
        options: dict[str, Any] = {"skops_trusted_types": TRUSTED}
        if variant == "cloudpickle":
            options = {"serialization_format": "cloudpickle"}
        elif variant == "pinned":
            options["pip_requirements"] = requirements()
        with mlflow.start_run() as run:
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                input_example=example,
                registered_model_name=MODEL_NAME,
                **options,
            )
        version = client.get_model_version(MODEL_NAME, str(info.registered_model_version))
        return {
            "version": int(version.version),
            "status": version.status,
            "run": run.info.run_id,
            "model_uri": info.model_uri,
        }

    def load(version: int) -> Any:
        return mlflow.sklearn.load_model(f"models:/{MODEL_NAME}/{version}")

    return Session(register, load)


if __name__ == "__main__":
    main(Side(imports, open_session, VARIANTS))
