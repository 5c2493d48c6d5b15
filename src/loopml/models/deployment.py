"""What a bundle needs to run somewhere else: its Dockerfile and its Kubernetes Deployment,
Service and HorizontalPodAutoscaler — pure builders (text and plain dicts), no I/O.

The container runs ``loopml serve /bundle`` on port 8080 as a non-root user; the Kubernetes
probes and the Docker HEALTHCHECK use the Open Inference Protocol health endpoints. The pods
meet the Pod Security "restricted" level and read the platform server's URL and token from a
Secret (``k8s/secret.yaml.example`` in a bundle). The pod template carries Prometheus's scrape
annotations (``/metrics`` on port 8080); ``cluster_manifests.py`` adds a ServiceMonitor, a
KServe InferenceService and the agent's Deployment.

>>> kubernetes_name("Churn_Model.v2")
'churn-model-v2'
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BASE_IMAGE",
    "CONTAINER_SECURITY",
    "METRICS_PATH",
    "POD_SECURITY",
    "PORT",
    "SCRAPE_ANNOTATIONS",
    "DeploymentSpec",
    "default_image",
    "deployment_manifest",
    "dockerfile",
    "hpa_manifest",
    "kubernetes_name",
    "metadata",
    "model_container",
    "probe",
    "secret_env",
    "secret_manifest",
    "secret_name",
    "service_manifest",
]

BASE_IMAGE = "python:3.11-slim"
PORT = 8080
SERVICE_PORT = 80
BUNDLE_DIR = "/bundle"
WHEELS_DIR = "wheels"
USER_ID = 10001  # numeric, so Kubernetes' runAsNonRoot can check it
SPOOL_DIR = "/var/lib/loopml/spool"  # LOOPML_SPOOL_DIR: prediction-log chunks not yet stored
LIVE_PATH = "/v2/health/live"
READY_PATH = "/v2/health/ready"
RESOURCES = {
    "requests": {"cpu": "250m", "memory": "512Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}
CPU_TARGET = 70  # percent of the CPU request, averaged over the pods
MIN_REPLICAS, MAX_REPLICAS = 1, 5
METRICS_PATH = "/metrics"
# read by Prometheus's usual kubernetes-pods scrape job (and its Helm chart's default)
SCRAPE_ANNOTATIONS = {
    "prometheus.io/scrape": "true",
    "prometheus.io/port": str(PORT),
    "prometheus.io/path": METRICS_PATH,
}
# the Pod Security "restricted" level, for the pod and for each container
POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": USER_ID,
    "runAsGroup": USER_ID,
    "fsGroup": USER_ID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
_NAME_LIMIT = 63  # a DNS-1123 label, which is also the limit of a label value
_NOT_DNS = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class DeploymentSpec:
    """What the manifests name: the model and version, the container image, the replicas."""

    model: str
    version: int
    image: str
    replicas: int = 1

    @property
    def name(self) -> str:
        """The Kubernetes name of the model (a DNS label; also the ``app`` label)."""
        return kubernetes_name(self.model)

    @property
    def labels(self) -> dict[str, str]:
        return {"app": self.name, "model-version": str(self.version)}


def kubernetes_name(model: str) -> str:
    """``model`` as a DNS-1123 label (lowercase letters, digits and '-', at most 63, starting
    with a letter) — usable as a resource name, a label value and in an image name."""
    slug = _NOT_DNS.sub("-", model.lower()).strip("-")
    if not slug or not slug[0].isalpha():
        slug = f"model-{slug}".strip("-")
    return slug[:_NAME_LIMIT].rstrip("-")


def default_image(model: str, version: int) -> str:
    """``loopml-<name>:<version>``, the image ``docker build -t`` should make."""
    return f"loopml-{kubernetes_name(model)}:{version}"


def dockerfile(*, model: str, version: int, loopml_version: str) -> str:
    """A Dockerfile that installs the bundle's requirements and serves it on port 8080."""
    probe = (
        "import urllib.request; "
        f"urllib.request.urlopen('http://127.0.0.1:{PORT}{LIVE_PATH}', timeout=2)"
    )
    command = ["loopml", "serve", BUNDLE_DIR, "--host", "0.0.0.0", "--port", str(PORT)]
    lines = [
        f"# {model}@{version}, packaged by loopml {loopml_version} ('loopml package').",
        f"#   docker build -t {default_image(model, version)} .",
        f"FROM {BASE_IMAGE}",
        "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1",
        f"RUN useradd --create-home --uid {USER_ID} --user-group --shell /usr/sbin/nologin loopml",
        f"WORKDIR {BUNDLE_DIR}",
        "# Requirements first, so a new model version reuses the installed packages layer.",
        "# loopml itself is on no public index: its wheel is in wheels/ (--find-links).",
        f"COPY requirements.txt {BUNDLE_DIR}/requirements.txt",
        f"COPY {WHEELS_DIR}/ {BUNDLE_DIR}/{WHEELS_DIR}/",
        f"RUN pip install --no-cache-dir --find-links {BUNDLE_DIR}/{WHEELS_DIR} "
        "-r requirements.txt",
        "# The bundle stays owned by root: the server reads it and cannot change it.",
        f"COPY . {BUNDLE_DIR}",
        f"USER {USER_ID}:{USER_ID}",
        f"EXPOSE {PORT}",
        "HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 "
        f"CMD {json.dumps(['python', '-c', probe])}",
        "# --host 0.0.0.0: inside a container the server must bind all interfaces to be",
        "# reachable through the published port ('loopml serve' itself defaults to 127.0.0.1).",
        "# So it needs a token for its callers: docker run -e LOOPML_SERVE_TOKEN=... (or a",
        "# file named by LOOPML_SERVE_TOKEN_FILE); LOOPML_SERVE_ALLOW_ANONYMOUS=1 serves anyone.",
        f"CMD {json.dumps(command)}",
    ]
    return "\n".join(lines) + "\n"


def secret_name(spec: DeploymentSpec) -> str:
    """The Secret the pods read ``LOOPML_SERVER_URL`` and ``LOOPML_TOKEN`` from."""
    return f"{spec.name}-loopml"[:_NAME_LIMIT]


def deployment_manifest(spec: DeploymentSpec) -> dict[str, Any]:
    """An ``apps/v1`` Deployment that passes the Pod Security "restricted" level: probes on
    the health endpoints (a startup probe gives a large model time to load), resource
    requests and limits, non-root with no capabilities and the runtime's seccomp profile; the
    platform server's URL and token from an optional Secret (without it the pods serve but
    log no predictions); the prediction log's spool on a volume that outlives a container
    restart. The selector matches ``app`` only, so a new model version rolls out as an
    update of the same Deployment (a selector cannot change)."""
    container = {
        **model_container(spec),
        "env": [
            *secret_env(spec),
            {"name": "LOOPML_SPOOL_DIR", "value": SPOOL_DIR},
        ],
        "volumeMounts": [{"name": "spool", "mountPath": SPOOL_DIR}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(spec),
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": {"app": spec.name}},
            "template": {
                "metadata": {"labels": spec.labels, "annotations": dict(SCRAPE_ANNOTATIONS)},
                "spec": {
                    "securityContext": copy.deepcopy(POD_SECURITY),
                    # time to store the prediction log's last rows on SIGTERM
                    "terminationGracePeriodSeconds": 60,
                    "containers": [container],
                    # emptyDir: kept across container restarts (a crash, a failed liveness
                    # probe); a deleted pod stores its spool on SIGTERM first
                    "volumes": [{"name": "spool", "emptyDir": {"sizeLimit": "1Gi"}}],
                },
            },
        },
    }


def model_container(spec: DeploymentSpec) -> dict[str, Any]:
    """The container that serves the bundle: its image, port, probes on the Open Inference
    Protocol's health endpoints (a startup probe gives a large model time to load), resource
    requests and limits, non-root with no capabilities and the runtime's seccomp profile."""
    return copy.deepcopy(
        {
            "name": "model",
            "image": spec.image,
            "imagePullPolicy": "IfNotPresent",
            "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
            "env": secret_env(spec),
            # up to 5 minutes to load the model before liveness checks start counting
            "startupProbe": probe(LIVE_PATH, initial_delay=5, period=5, failures=60),
            "readinessProbe": probe(READY_PATH, initial_delay=0, period=5),
            "livenessProbe": probe(LIVE_PATH, initial_delay=0, period=10),
            "resources": RESOURCES,
            "securityContext": CONTAINER_SECURITY,
        }
    )  # copies: a YAML document that holds one object twice would get anchors


def secret_env(spec: DeploymentSpec) -> list[dict[str, Any]]:
    """``LOOPML_SERVER_URL`` and ``LOOPML_TOKEN`` from the optional Secret of
    :func:`secret_manifest` (without them a model server serves but logs no predictions),
    and ``LOOPML_SERVE_TOKEN``, the token callers of the model server must send (without it
    the server, bound to all interfaces in its container, refuses to start)."""
    secret = secret_name(spec)
    return [
        _secret_env("LOOPML_SERVER_URL", secret, "server-url"),
        _secret_env("LOOPML_TOKEN", secret, "token"),
        _secret_env("LOOPML_SERVE_TOKEN", secret, "serve-token"),
    ]


def secret_manifest(spec: DeploymentSpec) -> dict[str, Any]:
    """A template of the Secret :func:`deployment_manifest` reads (placeholders to fill)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name(spec), "labels": {"app": spec.name}},
        "type": "Opaque",
        "stringData": {
            "server-url": "https://loopml.example.com",
            "token": "REPLACE-WITH-A-TOKEN",
            "serve-token": "REPLACE-WITH-32-RANDOM-CHARACTERS",
        },
    }


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {
        "name": name,
        "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": True}},
    }


def service_manifest(spec: DeploymentSpec) -> dict[str, Any]:
    """A ClusterIP Service: port 80 to the pods' 8080."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(spec),
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": spec.name},
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": PORT, "protocol": "TCP"}
            ],
        },
    }


def hpa_manifest(spec: DeploymentSpec) -> dict[str, Any]:
    """An ``autoscaling/v2`` HorizontalPodAutoscaler on 70% CPU, 1 to 5 replicas (more if
    the Deployment asks for more)."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(spec),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.name},
            "minReplicas": MIN_REPLICAS,
            "maxReplicas": max(MAX_REPLICAS, spec.replicas),
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": CPU_TARGET},
                    },
                }
            ],
        },
    }


def metadata(spec: DeploymentSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "labels": {**spec.labels, "app.kubernetes.io/managed-by": "loopml"},
        # the exact registered name, which the labels may have had to simplify
        "annotations": {"loopml/model": f"{spec.model}@{spec.version}"},
    }


def probe(path: str, *, initial_delay: int, period: int, failures: int = 3) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": PORT},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }
