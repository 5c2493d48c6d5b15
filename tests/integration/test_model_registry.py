"""The model registry over a real embedded store: register from a run (lineage, metrics,
signature), load back safely and verified, aliases with history, python_function models,
and bad input refused with nothing written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

import loopml
import loopml.data
import loopml.models
from loopml.core.errors import (
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    UntrustedCodeError,
)
from loopml.tracking.client import Client
from tests.fixtures.server import start_platform_server, wait_until_ready


def scaled(inputs: Any, *, data: Path) -> Any:
    """A python_function model: multiplies by the factor in its data file."""
    factor = float((data / "factor.txt").read_text(encoding="utf-8"))
    return np.asarray(inputs) * factor


@pytest.fixture
def fitted() -> tuple[Any, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=500).fit(x, y), x


def test_a_model_registered_from_a_run_keeps_its_lineage_and_loads_back(
    client: Client, fitted: tuple[Any, np.ndarray], tmp_path: Path
) -> None:
    model, x = fitted
    (tmp_path / "iris.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    loopml.data.add("iris", tmp_path / "iris.csv", client=client)
    with loopml.start_run("iris", client=client) as run:
        run.use_dataset("iris@1")
        run.log_metric("accuracy", 0.97)
        version = loopml.models.register(
            "iris-clf", model, input_example=x[:5], run=run, client=client
        )
    assert (version.model, version.version, version.flavor) == ("iris-clf", 1, "sklearn")
    assert version.run_id == run.id and version.datasets == ("iris@1",)
    assert version.metrics == {"accuracy": 0.97}
    assert version.signature == {
        "inputs": {"kind": "tensor", "dtype": "float64", "shape": [-1, 4], "missing": False},
        "outputs": {"kind": "tensor", "dtype": "int64", "shape": [-1]},
    }
    assert any(line.startswith("scikit-learn==") for line in version.requirements)
    loaded = loopml.models.load("iris-clf@1", client=client)
    assert np.array_equal(loaded.predict(x), model.predict(x))
    assert loopml.models.get("models:/iris-clf", client=client).version == 1


def test_aliases_move_with_history_and_name_what_they_point_at(
    client: Client, fitted: tuple[Any, np.ndarray]
) -> None:
    model, x = fitted
    for _ in range(2):
        loopml.models.register("iris-clf", model, input_example=x[:3], client=client)
    loopml.models.set_alias("iris-clf", "champion", 1, reason="first", client=client)
    loopml.models.set_alias("iris-clf", "champion", 2, reason="better", client=client)
    assert loopml.models.get("iris-clf@champion", client=client).version == 2
    history = client.metadata.list_alias_history("iris-clf", "champion")
    assert [(h.from_version, h.to_version, h.reason) for h in history] == [
        (None, 1, "first"),
        (1, 2, "better"),
    ]
    with pytest.raises(NotFoundError):
        loopml.models.set_alias("iris-clf", "champion", 7, client=client)
    with pytest.raises(InvalidInputError, match=r"'latest' is reserved"):
        loopml.models.set_alias("iris-clf", "latest", 1, client=client)


def test_a_tampered_file_is_refused_at_load(
    client: Client, fitted: tuple[Any, np.ndarray], tmp_path: Path
) -> None:
    model, x = fitted
    loopml.models.register("iris-clf", model, input_example=x[:3], client=client)
    stored = [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]
    victim = max(stored, key=lambda p: p.stat().st_size)  # the model's bytes are in here
    os.chmod(victim, 0o644)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        loopml.models.load("iris-clf@1", client=client)


def test_a_python_function_model_references_code_and_carries_its_data(
    client: Client, tmp_path: Path
) -> None:
    data = tmp_path / "assets"
    data.mkdir()
    (data / "factor.txt").write_text("2.5", encoding="utf-8")
    ref = f"{__name__}:scaled"
    function = loopml.models.PythonFunction(ref, data=data)
    version = loopml.models.register("scaler", function, input_example=np.ones((2, 3)),
                                     client=client)  # fmt: skip
    assert version.flavor == "python_function"
    (data / "factor.txt").write_text("9", encoding="utf-8")  # the registered copy is kept
    with pytest.raises(UntrustedCodeError, match=r"scaler@1: .*python_function.*--trust-code"):
        loopml.models.load("scaler", client=client)
    with pytest.warns(UserWarning, match=r"python_function .* because code is trusted"):
        loaded = loopml.models.load("scaler", trust_code=True, client=client)
    assert np.array_equal(loaded.predict(np.ones((1, 2))), [[2.5, 2.5]])


def test_bad_registrations_write_nothing(client: Client, fitted: tuple[Any, np.ndarray]) -> None:
    model, x = fitted
    wrong = {"inputs": {"kind": "tensor", "dtype": "float64", "shape": [-1, 3]}}
    with pytest.raises(InvalidInputError, match=r"input shape is \[-1, 3\]"):
        loopml.models.register("iris-clf", model, input_example=x[:2], signature=wrong,
                               client=client)  # fmt: skip
    with pytest.raises(InvalidInputError, match=r"No flavor stores a builtins.dict"):
        loopml.models.register("iris-clf", {"weights": [1, 2]}, client=client)
    with pytest.raises(InvalidInputError, match=r"Cannot import 'no_such_module:predict'"):
        loopml.models.register(
            "iris-clf", loopml.models.PythonFunction("no_such_module:predict"), client=client
        )
    assert client.metadata.list_registered_models() == []


def test_register_promote_and_load_through_the_server(
    tmp_path: Path, fitted: tuple[Any, np.ndarray]
) -> None:
    model, x = fitted
    server = start_platform_server(tmp_path / "server")
    try:
        assert wait_until_ready(server, 60), server.log()
        with Client(server_url=server.url) as remote:
            first = loopml.models.register("iris-clf", model, input_example=x[:3], client=remote)
            loopml.models.promote("iris-clf@1", client=remote)
            loaded = loopml.models.load("models:/iris-clf@champion", client=remote)
            assert first.version == 1
            assert np.array_equal(loaded.predict(x), model.predict(x))
            (change,) = remote.metadata.list_alias_history("iris-clf")
            assert (change.to_version, change.reason) == (1, "promote iris-clf@1")
    finally:
        server.stop()


def test_a_pickle_needs_an_opt_in_to_register_and_trusting_code_to_load(client: Client) -> None:
    weights = {"weights": [1.0, 2.0]}
    version = loopml.models.register("rules", weights, allow_pickle=True, client=client)
    assert version.flavor == "pickle"
    with pytest.raises(UntrustedCodeError, match=r"rules@1: .*pickled model: loading it runs"):
        loopml.models.load("rules", client=client)
    with pytest.warns(UserWarning, match=r"pickled model because code is trusted"):
        assert loopml.models.load("rules", trust_code=True, client=client) == weights


def test_two_versions_differ_in_metrics_params_data_and_signature(
    client: Client, fitted: tuple[Any, np.ndarray], tmp_path: Path
) -> None:
    model, x = fitted
    (tmp_path / "iris.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    loopml.data.add("iris", tmp_path / "iris.csv", client=client)
    (tmp_path / "iris.csv").write_text("a,b\n1,2\n3,4\n", encoding="utf-8")
    loopml.data.add("iris", tmp_path / "iris.csv", client=client)
    for number, (c, accuracy) in enumerate(((0.1, 0.90), (1.0, 0.95)), start=1):
        with loopml.start_run("iris", params={"C": c}, client=client) as run:
            run.use_dataset(f"iris@{number}")
            run.log_metric("accuracy", accuracy)
            example = x[:3] if number == 1 else {"a": [1.0], "b": [2.0]}
            registered = loopml.models.register("iris-clf", model if number == 1 else
                                                loopml.models.PythonFunction(f"{__name__}:scaled"),
                                                input_example=example, run=run,
                                                client=client)  # fmt: skip
            assert registered.version == number
    found = loopml.models.diff("iris-clf@1", "iris-clf@2", client=client)
    assert found["metrics"]["accuracy"]["delta"] == pytest.approx(0.05)
    assert found["params"]["C"] == {"a": "0.1", "b": "1.0"}
    assert found["datasets"] == {"added": ["iris@2"], "removed": ["iris@1"]}
    assert found["flavor"] == {"a": "sklearn", "b": "python_function"}
    assert found["signature"]["changed"]
    assert "inputs: tensor float64 [-1, 4] → 2 columns" in found["signature"]["changes"]


def test_an_onnx_conversion_is_stored_only_after_it_predicts_the_same(client: Client) -> None:
    from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
    from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped]

    x, y = load_breast_cancer(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(x, y)
    version = loopml.models.register("cancer", forest, input_example=x[:50], onnx=True,
                                     client=client)  # fmt: skip
    assert version.tags["loopml.onnx"] == "true"
    fast = loopml.models.load("cancer@1", variant="onnx", client=client)
    assert np.array_equal(fast.predict(x), forest.predict(x))
    assert np.allclose(fast.predict_proba(x[:10]), forest.predict_proba(x[:10]), atol=1e-4)

    with pytest.raises(InvalidInputError, match=r"ONNX conversion is for scikit-learn models"):
        loopml.models.register("scaler", loopml.models.PythonFunction(f"{__name__}:scaled"),
                               onnx=True, client=client)  # fmt: skip
    loopml.models.register("plain", forest, input_example=x[:5], client=client)
    with pytest.raises(InvalidInputError, match=r"has no ONNX variant"):
        loopml.models.load("plain", variant="onnx", client=client)
    assert [v.version for v in client.metadata.list_model_versions("cancer")] == [1]


def test_an_onnx_model_is_checked_stored_and_run_with_onnx_runtime(client: Client) -> None:
    import onnx
    from skl2onnx import to_onnx  # type: ignore[import-untyped]
    from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
    from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped]

    x, y = load_breast_cancer(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(x, y)
    proto = to_onnx(forest, x[:1].astype(np.float32), options={"zipmap": False})
    version = loopml.models.register("cancer-onnx", proto, input_example=x[:5], client=client)
    assert version.flavor == "onnx" and any("onnxruntime" in r for r in version.requirements)
    loaded = loopml.models.load("cancer-onnx@1", client=client)
    assert np.array_equal(loaded.predict(x), forest.predict(x))
    assert np.allclose(loaded.predict_proba(x), forest.predict_proba(x), atol=1e-4)
    with pytest.raises(InvalidInputError, match=r"The ONNX model is not valid"):
        loopml.models.register("broken", onnx.ModelProto(), client=client)
    assert [m.name for m in client.metadata.list_registered_models()] == ["cancer-onnx"]


def test_xgboost_and_lightgbm_models_round_trip_in_their_own_formats(client: Client) -> None:
    import lightgbm
    import xgboost
    from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]

    x, y = load_breast_cancer(return_X_y=True)
    boosted = xgboost.XGBClassifier(n_estimators=10, max_depth=3).fit(x, y)
    light = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(x, y)
    for name, model, flavor in (("xgb", boosted, "xgboost"), ("lgbm", light, "lightgbm")):
        version = loopml.models.register(name, model, input_example=x[:5], client=client)
        assert version.flavor == flavor and any(flavor in r for r in version.requirements)
        loaded = loopml.models.load(name, client=client)
        assert np.array_equal(loaded.predict(x), model.predict(x)), name
        assert np.allclose(loaded.predict_proba(x), model.predict_proba(x), atol=1e-6), name
