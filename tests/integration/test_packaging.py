"""``loopml package`` over a real embedded store: the bundle's files and manifest, pinned
requirements, the bundled model predicting like the original, the Dockerfile's instructions,
the Kubernetes manifests loaded into the ``kubernetes`` client's models, and bad input
refused with nothing left behind."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from kubernetes.client import ApiClient  # type: ignore[import-untyped]
from sklearn.datasets import load_iris  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

import loopml
import loopml.data
import loopml.models
from loopml.core.config import init_project
from loopml.core.errors import IntegrityError, InvalidInputError, NotFoundError
from loopml.core.version import __version__
from loopml.models.flavors import flavor_named
from loopml.tracking.client import Client
from tests.e2e.runner import cli

SERVE_COMMAND = ["loopml", "serve", "/bundle", "--host", "0.0.0.0", "--port", "8080"]


@pytest.fixture
def fitted() -> tuple[Any, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=500).fit(x, y), x


@pytest.fixture
def registered(client: Client, fitted: tuple[Any, np.ndarray], tmp_path: Path) -> str:
    """iris-clf@1 registered from a run that used a dataset version, as iris-clf@champion."""
    model, x = fitted
    (tmp_path / "iris.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    loopml.data.add("iris", tmp_path / "iris.csv", client=client)
    with loopml.start_run("iris", client=client) as run:
        run.use_dataset("iris@1")
        run.log_metric("accuracy", 0.97)
        version = loopml.models.register(
            "iris-clf", model, input_example=x[:5], run=run, client=client
        )
    loopml.models.set_alias("iris-clf", "champion", version.version, client=client)
    return run.id


@pytest.fixture
def bundle(client: Client, registered: str, tmp_path: Path) -> Path:
    return loopml.models.package(
        "models:/iris-clf@champion", tmp_path / "dist" / "iris", client=client
    )


def read_yaml(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def test_the_bundle_holds_the_model_manifest_requirements_dockerfile_and_manifests(
    client: Client, bundle: Path, registered: str, tmp_path: Path
) -> None:
    assert bundle == tmp_path / "dist" / "iris"
    files = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert files == [
        "Dockerfile",
        "bundle.json",
        "grafana/dashboard.json",
        "k8s/agent/deployment.yaml",
        "k8s/deployment.yaml",
        "k8s/hpa.yaml",
        "k8s/kserve/inferenceservice.yaml",
        "k8s/monitoring/servicemonitor.yaml",
        "k8s/secret.yaml.example",
        "k8s/service.yaml",
        "model/explain/background.json",
        "model/explain/global_importance.json",
        "model/input_example.json",
        "model/loopml-model.json",
        "model/model/model.skops",
        "requirements.txt",
        f"wheels/loopml-{__version__}-py3-none-any.whl",
    ]
    assert [p.name for p in (tmp_path / "dist").iterdir()] == ["iris"]  # no temp folder left

    manifest = json.loads((bundle / "bundle.json").read_text(encoding="utf-8"))
    version = loopml.models.get("iris-clf@1", client=client)
    assert manifest["model"] == "iris-clf" and manifest["version"] == 1
    assert manifest["flavor"] == "sklearn" and manifest["digest"] == version.tree_digest
    assert manifest["signature"] == version.signature
    assert manifest["run_id"] == registered and manifest["datasets"] == ["iris@1"]
    assert manifest["metrics"] == {"accuracy": 0.97}
    assert manifest["created_at"].endswith("Z") and manifest["loopml_version"] == __version__
    assert manifest["image"] == "loopml-iris-clf:1" and manifest["image_has_registry"] is False
    listed = {entry["path"]: entry["size"] for entry in manifest["files"]}
    assert set(listed) == set(files) - {"bundle.json"}
    assert all(listed[path] == (bundle / path).stat().st_size for path in listed)


def test_requirements_are_the_versions_pins_plus_loopml_serve_sorted_once_each(
    client: Client, bundle: Path
) -> None:
    lines = (bundle / "requirements.txt").read_text(encoding="utf-8").splitlines()
    version = loopml.models.get("iris-clf@champion", client=client)
    assert set(lines) == {*version.requirements, f"loopml[serve]=={__version__}"}
    assert lines == sorted(lines, key=str.lower) and len(lines) == len(set(lines))
    assert all("==" in line for line in lines)
    assert any(line.startswith("scikit-learn==") for line in lines)


def test_the_bundled_model_files_predict_like_the_registered_model(
    bundle: Path, fitted: tuple[Any, np.ndarray]
) -> None:
    model, x = fitted
    stored = json.loads((bundle / "model" / "loopml-model.json").read_text(encoding="utf-8"))
    loaded = flavor_named(stored["flavor"]).load(bundle / "model" / "model", stored["model"])
    assert np.array_equal(loaded.predict(x), model.predict(x))


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction, comments dropped, continuations
    joined."""
    found: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        instruction, _, arguments = (pending + line).partition(" ")
        found.append((instruction.upper(), arguments.strip()))
        pending = ""
    return found


def test_the_dockerfile_serves_the_bundle_as_a_non_root_user_on_8080(bundle: Path) -> None:
    text = (bundle / "Dockerfile").read_text(encoding="utf-8")
    instructions = dockerfile_instructions(text)
    names = [name for name, _ in instructions]
    args = dict(reversed(instructions))  # the first of each instruction
    assert names[0] == "FROM" and args["FROM"] == "python:3.11-slim"
    install = "pip install --no-cache-dir --find-links /bundle/wheels -r requirements.txt"
    assert ("RUN", install) in instructions
    assert ("COPY", "wheels/ /bundle/wheels/") in instructions
    # the wheel is there before pip runs
    assert instructions.index(("COPY", "wheels/ /bundle/wheels/")) < instructions.index(
        ("RUN", install)
    )
    assert any(name == "COPY" and arg.endswith(" /bundle") for name, arg in instructions)
    users = [arg for name, arg in instructions if name == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert names.index("USER") > names.index("RUN")  # installs as root, runs as the user
    assert ("EXPOSE", "8080") in instructions
    healthcheck = args["HEALTHCHECK"]
    probe = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert "http://127.0.0.1:8080/v2/health/live" in " ".join(probe)
    assert names[-1] == "CMD" and json.loads(instructions[-1][1]) == SERVE_COMMAND
    comments = " ".join(line for line in text.splitlines() if line.startswith("#"))
    assert "0.0.0.0" in comments and "all interfaces" in comments


def deserialize(document: dict[str, Any], kind: str) -> Any:
    """The kubernetes client's model object for ``document``; a field it does not know would
    be dropped, so the round trip must give the document back unchanged."""
    api = ApiClient()
    obj = api._ApiClient__deserialize(document, kind)
    assert api.sanitize_for_serialization(obj) == document
    return obj


def test_the_kubernetes_manifests_load_into_the_client_models(
    client: Client, registered: str, tmp_path: Path
) -> None:
    image = "registry.example.com/iris:1"
    bundle = loopml.models.package(
        "iris-clf@1", tmp_path / "b", image=image, replicas=3, client=client
    )
    deployment = deserialize(read_yaml(bundle / "k8s" / "deployment.yaml"), "V1Deployment")
    service = deserialize(read_yaml(bundle / "k8s" / "service.yaml"), "V1Service")
    hpa = deserialize(read_yaml(bundle / "k8s" / "hpa.yaml"), "V2HorizontalPodAutoscaler")

    assert deployment.kind == "Deployment" and deployment.spec.replicas == 3
    labels = {"app": "iris-clf", "model-version": "1"}
    assert labels.items() <= deployment.metadata.labels.items()
    assert deployment.spec.template.metadata.labels == labels
    assert deployment.spec.selector.match_labels == {"app": "iris-clf"}
    (container,) = deployment.spec.template.spec.containers
    assert container.image == image and container.ports[0].container_port == 8080
    ready, live = container.readiness_probe.http_get, container.liveness_probe.http_get
    assert (ready.path, ready.port) == ("/v2/health/ready", 8080)
    assert (live.path, live.port) == ("/v2/health/live", 8080)
    assert (
        container.resources.requests.keys()
        == container.resources.limits.keys()
        == {
            "cpu",
            "memory",
        }
    )
    pod = deployment.spec.template.spec
    assert pod.security_context.run_as_non_root is True
    # the Pod Security "restricted" level
    assert pod.security_context.seccomp_profile.type == "RuntimeDefault"
    assert container.security_context.seccomp_profile.type == "RuntimeDefault"
    assert container.security_context.allow_privilege_escalation is False
    assert container.security_context.capabilities.drop == ["ALL"]
    assert not container.security_context.capabilities.add
    assert container.security_context.run_as_non_root is True
    # a large model gets minutes to load before liveness counts
    startup = container.startup_probe
    assert startup.http_get.path == "/v2/health/live"
    assert startup.period_seconds * startup.failure_threshold >= 300
    # the platform server's URL and token from a Secret; the spool on a volume
    env = {item.name: item for item in container.env}
    secrets = [("LOOPML_SERVER_URL", "server-url"), ("LOOPML_TOKEN", "token")]
    for name, key in [*secrets, ("LOOPML_SERVE_TOKEN", "serve-token")]:
        ref = env[name].value_from.secret_key_ref
        assert (ref.name, ref.key, ref.optional) == ("iris-clf-loopml", key, True)
    spool = env["LOOPML_SPOOL_DIR"].value
    (mount,) = container.volume_mounts
    assert mount.mount_path == spool
    (volume,) = [v for v in pod.volumes if v.name == mount.name]
    assert volume.empty_dir is not None
    secret = deserialize(read_yaml(bundle / "k8s" / "secret.yaml.example"), "V1Secret")
    assert secret.metadata.name == "iris-clf-loopml"
    assert set(secret.string_data) == {"server-url", "token", "serve-token"}

    assert service.spec.type == "ClusterIP" and service.spec.selector == {"app": "iris-clf"}
    (port,) = service.spec.ports
    assert (port.port, port.target_port) == (80, 8080)

    assert hpa.spec.scale_target_ref.kind == "Deployment"
    assert hpa.spec.scale_target_ref.name == deployment.metadata.name
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (1, 5)
    (metric,) = hpa.spec.metrics
    assert metric.resource.name == "cpu"
    assert (metric.resource.target.type, metric.resource.target.average_utilization) == (
        "Utilization",
        70,
    )


def test_a_non_empty_out_folder_is_refused_and_left_as_it_was(
    client: Client, registered: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"taken.* is not empty"):
        loopml.models.package("iris-clf@1", out, client=client)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert loopml.models.package("iris-clf@1", empty, client=client) == empty
    assert (empty / "bundle.json").is_file()
    monkeypatch.chdir(empty)
    with pytest.raises(InvalidInputError, match=r"empty is not empty"):
        loopml.models.package("iris-clf@1", ".", client=client)
    assert loopml.models.package("iris-clf@1", "../new", client=client) == tmp_path / "new"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_tampered_model_file_fails_the_package_and_leaves_nothing_behind(
    client: Client, registered: str, tmp_path: Path
) -> None:
    stored = [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]
    victim = max(stored, key=lambda p: p.stat().st_size)  # the model's bytes are in here
    os.chmod(victim, 0o644)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    dist = tmp_path / "dist"
    dist.mkdir()
    with pytest.raises(IntegrityError):
        loopml.models.package("iris-clf@1", dist / "iris", client=client)
    assert list(dist.iterdir()) == []


def test_unknown_models_and_versions_are_refused_before_anything_is_written(
    client: Client, registered: str, tmp_path: Path
) -> None:
    for ref in ("nope@champion", "iris-clf@7", "iris-clf@staging"):
        with pytest.raises(NotFoundError):
            loopml.models.package(ref, tmp_path / "dist" / "x", client=client)
    with pytest.raises(InvalidInputError, match="'replicas'"):
        loopml.models.package("iris-clf@1", tmp_path / "dist" / "x", replicas=0, client=client)
    assert not (tmp_path / "dist").exists()


def _package_is_wired() -> bool:
    from loopml.cli.main import app

    return any(command.name == "package" for command in app.registered_commands)


def expect(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.skipif(not _package_is_wired(), reason="'package' is not in loopml.cli.main yet")
def test_the_package_command_writes_a_bundle_and_exits_2_on_bad_input(
    fitted: tuple[Any, np.ndarray], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    config = init_project(project)
    model, x = fitted
    with Client(config=config, create=False) as client:
        loopml.models.register("iris-clf", model, input_example=x[:5], client=client)
        loopml.models.set_alias("iris-clf", "champion", 1, client=client)
    out = tmp_path / "dist"

    help_text = expect(cli("package", "--help", cwd=project), 0)
    assert "--out" in help_text and "loopml package churn@champion" in help_text
    for ref, named in (("nope@champion", "nope"), ("iris-clf@7", "7")):
        missing = cli("package", ref, "--out", str(out), cwd=project)
        assert missing.returncode == 2 and named in missing.stderr, missing.stderr
    assert not out.exists()

    printed = expect(cli("package", "iris-clf@champion", "--out", str(out), "--json",
                         "--replicas", "2", cwd=project), 0)  # fmt: skip
    manifest = json.loads(printed)
    assert (manifest["model"], manifest["version"]) == ("iris-clf", 1)
    assert manifest == json.loads((out / "bundle.json").read_text(encoding="utf-8"))
    assert read_yaml(out / "k8s" / "deployment.yaml")["spec"]["replicas"] == 2

    shown = expect(cli("package", "iris-clf@1", "--out", str(tmp_path / "dist2"), cwd=project), 0)
    shown = " ".join(shown.split())  # the console wraps long lines
    assert "names no registry" in shown and "--image REGISTRY/NAME:TAG" in shown
    assert "secret.yaml.example" in shown
    (tmp_path / "dist2").rename(tmp_path / "project" / "dist2")  # out of the listing below

    again = cli("package", "iris-clf@1", "--out", str(out), cwd=project)
    assert again.returncode == 2 and "dist" in again.stderr and "not empty" in again.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dist", "project"]
