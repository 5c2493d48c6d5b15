"""``loopml package``: write a registered model version as a deployable bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from loopml.cli import output
from loopml.cli.resolve import open_client


def package_command(
    ref: Annotated[
        str, typer.Argument(help="The version: NAME@ALIAS, NAME@3 or models:/NAME@ALIAS.")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="A new or empty folder to write the bundle in.")
    ],
    image: Annotated[
        str | None,
        typer.Option(
            "--image",
            help="The image the Kubernetes manifests run, with its registry "
            "[default: loopml-NAME:VERSION, which a cluster cannot pull].",
        ),
    ] = None,
    replicas: Annotated[
        int, typer.Option("--replicas", min=1, help="Replicas the Deployment starts with.")
    ] = 1,
    as_json: output.JsonFlag = False,
) -> None:
    """Write the model version REF names as a deployable bundle in --out.

    The bundle holds the version's verified files (model/), bundle.json, pinned
    requirements.txt (with onnxruntime when the version has an ONNX variant), the loopml
    wheel (wheels/; loopml is on no public index), a Dockerfile that runs 'loopml serve' on
    port 8080, and Kubernetes manifests (k8s/: Deployment with Prometheus scrape
    annotations, Service, HorizontalPodAutoscaler, and secret.yaml.example for the platform
    server's URL and token; k8s/monitoring/: a ServiceMonitor; k8s/kserve/: a KServe
    InferenceService instead of the Deployment; k8s/agent/: the 'loopml agent' Deployment)
    and a Grafana dashboard (grafana/dashboard.json). The pods meet the Pod Security
    "restricted" level. --out must be a new or empty folder; it gets the whole
    bundle or nothing. Give --image with your registry (ghcr.io/acme/churn:3): the default
    image name has none, so a cluster cannot pull it.

    Examples:

        loopml package churn@champion --out dist/churn
        docker build -t loopml-churn:4 dist/churn && kubectl apply -f dist/churn/k8s

        loopml package churn@3 --out dist/churn-3 --image ghcr.io/acme/churn:3
        loopml package models:/churn@challenger --out dist/next --replicas 2 --json
    """
    from loopml.models.packaging import BUNDLE_MANIFEST, package

    with open_client() as client:
        bundle = package(ref, out, image=image, replicas=replicas, client=client)
    manifest = json.loads((bundle / BUNDLE_MANIFEST).read_text(encoding="utf-8"))
    if as_json:
        output.print_json(manifest)
        return
    ref_text = f"{manifest['model']}@{manifest['version']}"
    console = output.console()
    console.print(
        f"Packaged {ref_text} into {bundle} ({len(manifest['files'])} files).", markup=False
    )
    console.print(f"  docker build -t {manifest['image']} {bundle}", markup=False)
    if not manifest.get("image_has_registry", True):
        console.print(
            f"  Note: the image {manifest['image']} names no registry host, so a cluster's "
            "nodes cannot pull it (or would look for it on Docker Hub). Push it to your "
            "registry and package again with --image REGISTRY/NAME:TAG.",
            markup=False,
        )
    secret = bundle / "k8s" / "secret.yaml.example"
    console.print(
        f"  To log predictions to the platform, fill in {secret} (server URL and token), "
        "rename it to secret.yaml and apply it with the rest:",
        markup=False,
    )
    console.print(f"  kubectl apply -f {bundle / 'k8s'}", markup=False)
