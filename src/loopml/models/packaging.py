"""``loopml package``: a registered model version as a self-contained, deployable folder.

::

    bundle/
      bundle.json          what is inside: model, version, flavor, digest, lineage, files
      requirements.txt     the version's pinned requirements + loopml[serve] (+ onnxruntime
                           when the version has an ONNX variant)
      wheels/              the loopml wheel itself (it is on no public index)
      Dockerfile           runs 'loopml serve /bundle' on port 8080
      model/               the version's stored files, verified against its digest
      k8s/deployment.yaml  k8s/service.yaml  k8s/hpa.yaml
      k8s/secret.yaml.example   the platform server's URL and token, to fill in and apply
      k8s/monitoring/servicemonitor.yaml   Prometheus Operator: scrape the pods' /metrics
      k8s/kserve/inferenceservice.yaml     KServe: instead of deployment, service and hpa
      k8s/agent/deployment.yaml            'loopml agent', the loop's long-lived process
      grafana/dashboard.json               traffic, latency, errors, drift, the log's backlog

The bundle is written into a hidden folder beside ``out`` and renamed into place at the end,
so ``out`` either holds a whole bundle or nothing.

>>> package("churn@champion", "dist/churn")  # doctest: +SKIP
PosixPath('/home/me/project/dist/churn')
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as metadata_version
from pathlib import Path
from typing import Any

from loopml.core.entities import ModelVersion
from loopml.core.errors import ConflictError, InvalidInputError
from loopml.core.hashing import Digest
from loopml.core.ids import format_ms
from loopml.core.version import __version__
from loopml.models.cluster_manifests import (
    agent_deployment_manifest,
    inference_service_manifest,
    service_monitor_manifest,
)
from loopml.models.deployment import (
    WHEELS_DIR,
    DeploymentSpec,
    default_image,
    deployment_manifest,
    dockerfile,
    hpa_manifest,
    secret_manifest,
    service_manifest,
)
from loopml.models.grafana_dashboard import dashboard
from loopml.models.onnx import FILE as ONNX_FILE
from loopml.models.registry import resolve
from loopml.models.wheel import write_loopml_wheel
from loopml.stores.artifacts.trees import materialize_tree
from loopml.tracking.client import Client, client_scope

__all__ = ["BUNDLE_MANIFEST", "bundle_requirements", "has_registry", "package"]

BUNDLE_MANIFEST = "bundle.json"
BUNDLE_FORMAT = 1
MODEL_DIR = "model"
SERVE_REQUIREMENT = f"loopml[serve]=={__version__}"
ONNX_RUNTIME = "onnxruntime"
_PROJECT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def package(
    ref: str,
    out: str | os.PathLike[str],
    *,
    image: str | None = None,
    replicas: int = 1,
    client: Client | None = None,
) -> Path:
    """Write the version ``ref`` names (``churn@champion``, ``churn@3``,
    ``models:/churn@champion``) as a deployable bundle in ``out``, a new or empty folder, and
    return its absolute path. ``image`` is the container image the Kubernetes manifests run
    (default ``loopml-<name>:<version>``, which names no registry: a cluster can only pull it
    once it is pushed somewhere and the manifests say where, see :func:`has_registry`);
    ``replicas`` the Deployment's starting replicas."""
    target = Path(os.path.abspath(out))  # so that '.' has a name and a parent
    _check_out(target)
    _check_options(image=image, replicas=replicas)
    with client_scope(client, create=False) as active:
        version = resolve(ref, active)
        spec = DeploymentSpec(
            model=version.model,
            version=version.version,
            image=image or default_image(version.model, version.version),
            replicas=replicas,
        )
        scratch = target.parent / f".{target.name}.{secrets.token_hex(6)}.partial"
        _mkdir(target.parent, exist_ok=True)
        _mkdir(scratch, exist_ok=False)
        try:
            materialize_tree(
                active.artifacts, Digest.parse(version.tree_digest), scratch / MODEL_DIR
            )
            has_onnx = any(path.name == ONNX_FILE for path in (scratch / MODEL_DIR).rglob("*"))
            requirements = bundle_requirements(version.requirements, onnx=has_onnx)
            write_loopml_wheel(scratch / WHEELS_DIR)
            _write_bundle(scratch, version, spec, requirements)
            _move_into_place(scratch, target)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
    return target


def bundle_requirements(pins: Iterable[str], *, onnx: bool = False) -> list[str]:
    """The version's requirement lines plus ``loopml[serve]`` at this loopml's version (and
    ONNX Runtime when ``onnx``: the version has an ONNX variant, which the server prefers):
    sorted, without duplicates, with any other pin of loopml replaced. A line that is a pip
    option or holds a line break is refused (it could pull from anywhere)."""
    lines = {SERVE_REQUIREMENT}
    pinned = {_project(pin) for pin in pins}
    if onnx and ONNX_RUNTIME not in pinned:
        lines.add(_installed_pin(ONNX_RUNTIME))
    for pin in pins:
        line = pin.strip()
        if not line or line.startswith("#"):
            continue
        if "\n" in line or "\r" in line or line.startswith("-"):
            raise InvalidInputError(
                f"Requirement {pin!r} of the model version is not a requirement line (a pip "
                "option or a line break); register the version with plain pins like "
                "'scikit-learn==1.5.2'."
            )
        if _project(line) == "loopml":
            continue
        lines.add(line)
    return sorted(lines, key=lambda line: (line.lower(), line))


def has_registry(image: str) -> bool:
    """True when ``image`` names a registry host (``ghcr.io/acme/churn:3``,
    ``localhost:5000/churn``), which a cluster's nodes can pull from."""
    first, slash, _ = image.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


def _project(line: str) -> str | None:
    project = _PROJECT.match(line)
    return re.sub(r"[-_.]+", "-", project.group(1)).lower() if project else None


def _installed_pin(project: str) -> str:
    """``project==<installed version>``, or just ``project`` when it is not installed here."""
    try:
        return f"{project}=={metadata_version(project)}"
    except PackageNotFoundError:
        return project


def _write_bundle(
    folder: Path, version: ModelVersion, spec: DeploymentSpec, requirements: list[str]
) -> None:
    texts = {
        "requirements.txt": "\n".join(requirements) + "\n",
        "Dockerfile": dockerfile(
            model=version.model, version=version.version, loopml_version=__version__
        ),
        "k8s/deployment.yaml": _yaml(deployment_manifest(spec)),
        "k8s/service.yaml": _yaml(service_manifest(spec)),
        "k8s/hpa.yaml": _yaml(hpa_manifest(spec)),
        # not .yaml, so 'kubectl apply -f k8s/' never applies the placeholders
        "k8s/secret.yaml.example": _yaml(secret_manifest(spec)),
        # in folders of their own, so 'kubectl apply -f k8s/' applies none of them: each
        # needs something the cluster may not have (CRDs) or is an alternative
        "k8s/monitoring/servicemonitor.yaml": _yaml(service_monitor_manifest(spec)),
        "k8s/kserve/inferenceservice.yaml": _yaml(inference_service_manifest(spec)),
        "k8s/agent/deployment.yaml": _yaml(agent_deployment_manifest(spec)),
        "grafana/dashboard.json": json.dumps(dashboard(spec.model, spec.name), indent=2) + "\n",
    }
    try:
        for relative, text in texts.items():
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).write_text(text, encoding="utf-8")
        manifest = _manifest(version, spec, _files(folder))
        (folder / BUNDLE_MANIFEST).write_text(
            json.dumps(manifest, indent=2) + "\n", encoding="utf-8"
        )
    except OSError as exc:
        raise InvalidInputError(f"Could not write the bundle in {folder}: {exc}.") from exc


def _manifest(
    version: ModelVersion, spec: DeploymentSpec, files: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "format": BUNDLE_FORMAT,
        "model": version.model,
        "version": version.version,
        "flavor": version.flavor,
        "digest": version.tree_digest,
        "signature": version.signature,
        "run_id": version.run_id,
        "datasets": list(version.datasets),
        "metrics": dict(version.metrics),
        "created_at": format_ms(version.created_at),
        "loopml_version": __version__,
        "image": spec.image,
        "image_has_registry": has_registry(spec.image),
        "files": files,
    }


def _files(folder: Path) -> list[dict[str, Any]]:
    """Every file under ``folder`` (POSIX path relative to it, size in bytes), sorted."""
    found = [path for path in folder.rglob("*") if path.is_file()]
    listed = [{"path": p.relative_to(folder).as_posix(), "size": p.stat().st_size} for p in found]
    return sorted(listed, key=lambda entry: entry["path"])


def _yaml(document: dict[str, Any]) -> str:
    import yaml  # here: serving a bundle reads this module's names, not its manifests

    text: str = yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
    return text


def _check_options(*, image: str | None, replicas: int) -> None:
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise InvalidInputError(
            f"The 'replicas' parameter of package must be a whole number ≥ 1. "
            f"Got {replicas!r} instead."
        )
    if image is not None and (not image.strip() or any(c.isspace() for c in image)):
        raise InvalidInputError(
            f"The 'image' parameter of package must be an image name without spaces, like "
            f"'registry.example.com/churn:3'. Got {image!r} instead."
        )


def _check_out(out: Path) -> None:
    if out.is_dir():
        try:
            occupied = next(out.iterdir(), None) is not None
        except OSError as exc:
            raise InvalidInputError(f"Cannot read the bundle folder {out}: {exc}.") from exc
        if occupied:
            raise InvalidInputError(
                f"The bundle folder {out} is not empty; give a new or empty folder (nothing "
                "is overwritten)."
            )
    elif out.exists() or out.is_symlink():
        raise InvalidInputError(
            f"The bundle folder {out} exists and is not a folder; give a new or empty folder."
        )


def _mkdir(folder: Path, *, exist_ok: bool) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=exist_ok)
    except OSError as exc:
        raise InvalidInputError(f"Could not create the folder {folder}: {exc}.") from exc


def _move_into_place(scratch: Path, target: Path) -> None:
    """Rename the finished bundle to ``target`` (which may be an empty folder: rename
    replaces it); fails rather than mixing if ``target`` filled up meanwhile."""
    try:
        os.replace(scratch, target)
    except OSError as exc:
        raise ConflictError(
            f"Could not move the bundle into {target}: {exc}. Was the folder written to while "
            "packaging? Give a new or empty folder."
        ) from exc
