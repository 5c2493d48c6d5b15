"""A ``loopml package`` bundle installs where loopml is not installed: its loopml comes from the
bundled wheel (loopml is on no public index), every requirement line is installable, and
``loopml serve BUNDLE`` from a fresh virtualenv answers a prediction. Docker does not run here,
so this is what the image's ``pip install --find-links wheels -r requirements.txt`` does,
with the other requirements taken from this environment instead of downloaded."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from sklearn.datasets import load_iris  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

import loopml.models
from loopml.core.version import __version__
from loopml.models.packaging import bundle_requirements, has_registry
from loopml.tracking.client import Client
from tests.fixtures.backends import free_port
from tests.fixtures.model_server import ModelServer, wait_until_serving

# uv (a dev dependency: pip install -e '.[dev]') beside this interpreter, else on PATH
UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv") or "uv"


@pytest.fixture
def iris() -> tuple[Any, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=500).fit(x, y), x


def _fresh_venv(folder: Path) -> Path:
    """A virtualenv with nothing installed that can import this environment's third-party
    packages (a .pth line) but not its loopml: the editable install's own .pth is not read
    from a folder that is only on the path."""
    subprocess.run([UV, "venv", "-q", "--python", sys.executable, str(folder)], check=True)
    python = folder / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "dev-packages.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n", encoding="utf-8"
    )
    return python


def test_a_bundle_installs_loopml_from_its_own_wheel_and_serves_from_a_fresh_venv(
    client: Client, iris: tuple[Any, np.ndarray], tmp_path: Path
) -> None:
    model, x = iris
    loopml.models.register("iris-clf", model, input_example=x[:5], client=client)
    bundle = loopml.models.package("iris-clf@1", tmp_path / "bundle", client=client)

    # every requirement is a plain requirement; loopml's is met by a wheel in the bundle
    wheels = {parse_wheel_filename(p.name)[:2] for p in (bundle / "wheels").glob("*.whl")}
    lines = (bundle / "requirements.txt").read_text(encoding="utf-8").splitlines()
    requirements = [Requirement(line) for line in lines]
    (ours,) = [r for r in requirements if canonicalize_name(r.name) == "loopml"]
    assert "serve" in ours.extras
    assert any(name == "loopml" and ours.specifier.contains(v) for name, v in wheels)

    python = _fresh_venv(tmp_path / "venv")
    install = [
        UV, "pip", "install", "-q", "--python", str(python), "--no-deps", "--no-index",
        "--find-links", str(bundle / "wheels"), str(ours),
    ]  # fmt: skip
    subprocess.run(install, check=True)
    where = subprocess.run(
        [str(python), "-c", "import loopml; print(loopml.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout
    assert where.startswith(str(tmp_path / "venv")), where  # the bundled wheel, not src/

    port = free_port()
    log_path = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(tmp_path / "venv" / "bin" / "loopml"), "serve", str(bundle), "--port",
             str(port), "--no-log"],
            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = ModelServer(f"http://127.0.0.1:{port}", str(bundle), process, log_path, (), tmp_path)
    try:
        wait_until_serving(server)
        answer = httpx.post(f"{server.url}/invocations", json={"inputs": x[:3].tolist()})
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == model.predict(x[:3]).tolist()
    finally:
        server.stop()


def test_a_version_with_an_onnx_variant_bundles_onnx_runtime(
    client: Client, iris: tuple[Any, np.ndarray], tmp_path: Path
) -> None:
    model, x = iris
    loopml.models.register(
        "iris-onnx", model, input_example=x[:5].astype(np.float32), onnx=True, client=client
    )
    bundle = loopml.models.package("iris-onnx@1", tmp_path / "bundle", client=client)
    assert list(bundle.rglob("model.onnx"))
    lines = (bundle / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert any(Requirement(line).name == "onnxruntime" for line in lines), lines


def test_requirements_add_onnx_runtime_once_and_only_for_an_onnx_variant() -> None:
    assert bundle_requirements(["numpy==2.0"]) == ["loopml[serve]==" + __version__, "numpy==2.0"]
    with_onnx = bundle_requirements(["numpy==2.0"], onnx=True)
    assert [line for line in with_onnx if line.startswith("onnxruntime")] != []
    pinned = bundle_requirements(["onnxruntime==1.2.3"], onnx=True)
    assert [line for line in pinned if line.startswith("onnxruntime")] == ["onnxruntime==1.2.3"]


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("loopml-churn:3", False),
        ("acme/churn:3", False),  # Docker Hub shorthand: not the team's registry
        ("ghcr.io/acme/churn:3", True),
        ("localhost:5000/churn", True),
        ("registry.internal:443/ml/churn@sha256:abc", True),
    ],
)
def test_an_image_names_a_registry_only_with_a_host(image: str, expected: bool) -> None:
    assert has_registry(image) is expected
