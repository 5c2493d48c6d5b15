"""The Kubernetes manifests a bundle carries beside its Deployment: a Prometheus Operator
ServiceMonitor, a KServe InferenceService, and the Deployment of ``loopml agent`` — pure
builders (plain dicts), no I/O.

- ``servicemonitor.yaml`` (``monitoring.coreos.com/v1``) scrapes ``/metrics`` of the pods
  behind the bundle's Service, for a cluster that runs the Prometheus Operator (a plain
  Prometheus reads the pods' ``prometheus.io/*`` annotations instead).
- ``inferenceservice.yaml`` (``serving.kserve.io/v1beta1``) runs the same image as a KServe
  custom predictor: the model server speaks the Open Inference Protocol, which KServe calls
  protocol ``v2`` (the ``PROTOCOL`` variable of a custom container). An alternative to the
  Deployment, Service and HorizontalPodAutoscaler, not an addition.
- ``agent.yaml``: ``loopml agent``, the loop's one long-lived process (one active per project,
  held by a lease in the store), as one replica that is replaced, never rolled (Recreate), and
  given time to finish a decision on SIGTERM.

>>> spec = DeploymentSpec("churn", 3, "ghcr.io/acme/churn:3")
>>> inference_service_manifest(spec)["spec"]["predictor"]["containers"][0]["name"]
'kserve-container'
"""

from __future__ import annotations

import copy
from typing import Any

from loopml.models.deployment import (
    CONTAINER_SECURITY,
    MAX_REPLICAS,
    METRICS_PATH,
    POD_SECURITY,
    PORT,
    DeploymentSpec,
    metadata,
    model_container,
    secret_env,
)

__all__ = [
    "AGENT_GRACE_SECONDS",
    "AGENT_NAME",
    "agent_deployment_manifest",
    "inference_service_manifest",
    "service_monitor_manifest",
]

SCRAPE_INTERVAL = "30s"
KSERVE_CONTAINER = "kserve-container"  # the name KServe looks for in a custom predictor
AGENT_NAME = "loopml-agent"  # one per project, whichever bundle's manifests apply it
AGENT_COMMAND = ["loopml", "agent"]
# time to finish (or hand back) a decision and release the lease on SIGTERM
AGENT_GRACE_SECONDS = 120
AGENT_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}


def service_monitor_manifest(spec: DeploymentSpec) -> dict[str, Any]:
    """A ``monitoring.coreos.com/v1`` ServiceMonitor: ``/metrics`` of the bundle's Service
    (its port named ``http``) every 30 seconds; the scraped series keep the pod's ``app``
    label, which the Grafana dashboard filters on."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": metadata(spec),
        "spec": {
            "selector": {
                "matchLabels": {"app": spec.name, "app.kubernetes.io/managed-by": "loopml"}
            },
            "endpoints": [{"port": "http", "path": METRICS_PATH, "interval": SCRAPE_INTERVAL}],
            "podTargetLabels": ["app", "model-version"],
        },
    }


def inference_service_manifest(spec: DeploymentSpec) -> dict[str, Any]:
    """A ``serving.kserve.io/v1beta1`` InferenceService whose predictor is the bundle's
    image, run as KServe's custom container (``kserve-container``) on port 8080 with the
    same probes, resources, Secret and Pod Security settings as the Deployment; KServe's
    own Prometheus scraping reads ``/metrics`` on that port. The prediction log spools in
    the container's home (Knative allows no emptyDir by default)."""
    container = model_container(spec)
    container["name"] = KSERVE_CONTAINER
    container["ports"] = [{"name": "http1", "containerPort": PORT, "protocol": "TCP"}]
    container["env"] = [*container["env"], {"name": "PROTOCOL", "value": "v2"}]
    found = metadata(spec)
    found["annotations"].update(
        {
            "serving.kserve.io/enable-prometheus-scraping": "true",
            "prometheus.kserve.io/port": str(PORT),
            "prometheus.kserve.io/path": METRICS_PATH,
        }
    )
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": found,
        "spec": {
            "predictor": {
                "minReplicas": spec.replicas,
                "maxReplicas": max(MAX_REPLICAS, spec.replicas),
                "securityContext": copy.deepcopy(POD_SECURITY),
                "terminationGracePeriodSeconds": 60,
                "containers": [container],
            }
        },
    }


def agent_deployment_manifest(spec: DeploymentSpec) -> dict[str, Any]:
    """An ``apps/v1`` Deployment of ``loopml agent`` in the bundle's image: one replica,
    strategy Recreate (the old pod is gone before the new one starts; the lease in the store
    is what keeps two agents from both acting), the platform server's URL and token from the
    bundle's Secret, the Pod Security "restricted" level, and a SIGTERM grace period."""
    labels = {"app": AGENT_NAME, "app.kubernetes.io/managed-by": "loopml"}
    container = {
        "name": "agent",
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "command": list(AGENT_COMMAND),
        "env": secret_env(spec),
        "resources": copy.deepcopy(AGENT_RESOURCES),
        "securityContext": copy.deepcopy(CONTAINER_SECURITY),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": AGENT_NAME,
            "labels": labels,
            "annotations": {"loopml/packaged-with": f"{spec.model}@{spec.version}"},
        },
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {"app": AGENT_NAME}},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "securityContext": copy.deepcopy(POD_SECURITY),
                    "terminationGracePeriodSeconds": AGENT_GRACE_SECONDS,
                    "containers": [container],
                },
            },
        },
    }
