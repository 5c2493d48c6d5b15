"""The manifests ``loopml package`` writes beside the Deployment: Prometheus's scrape
annotations, the ServiceMonitor, the KServe InferenceService and the agent's Deployment —
each loaded into the ``kubernetes`` client's model classes where one exists (custom
resources: their apiVersion, kind and required fields, and the pod parts they embed)."""

from __future__ import annotations

from typing import Any

import yaml
from kubernetes.client import ApiClient  # type: ignore[import-untyped]

from loopml.models.cluster_manifests import (
    agent_deployment_manifest,
    inference_service_manifest,
    service_monitor_manifest,
)
from loopml.models.deployment import DeploymentSpec, deployment_manifest, service_manifest

SPEC = DeploymentSpec("Churn_Model", 4, "registry.example.com/churn:4", replicas=2)


def loaded(document: dict[str, Any], kind: str) -> Any:
    """The client's model object; the round trip gives the document back unchanged, so no
    field was unknown to it (an unknown field would be dropped)."""
    api = ApiClient()
    obj = api._ApiClient__deserialize(document, kind)
    assert api.sanitize_for_serialization(obj) == document
    return obj


def as_yaml_and_back(document: dict[str, Any]) -> dict[str, Any]:
    text = yaml.safe_dump(document, sort_keys=False)
    assert "&id" not in text and "*id" not in text  # no object shared inside a document
    found = yaml.safe_load(text)
    assert isinstance(found, dict)
    return found


def test_the_model_pods_carry_prometheus_scrape_annotations_for_their_metrics_port() -> None:
    deployment = loaded(as_yaml_and_back(deployment_manifest(SPEC)), "V1Deployment")
    annotations = deployment.spec.template.metadata.annotations
    (container,) = deployment.spec.template.spec.containers
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(container.ports[0].container_port),
        "prometheus.io/path": "/metrics",
    }


def test_the_service_monitor_selects_the_bundle_service_and_scrapes_its_http_port() -> None:
    monitor = as_yaml_and_back(service_monitor_manifest(SPEC))
    service = loaded(service_manifest(SPEC), "V1Service")
    assert (monitor["apiVersion"], monitor["kind"]) == (
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
    )
    loaded(monitor["metadata"], "V1ObjectMeta")
    selector = loaded(monitor["spec"]["selector"], "V1LabelSelector")  # required by the CRD
    assert selector.match_labels.items() <= service.metadata.labels.items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port.name for port in service.spec.ports}
    assert endpoint["path"] == "/metrics"
    assert endpoint["interval"].endswith("s")


def test_the_inference_service_runs_the_same_image_as_a_v2_custom_predictor() -> None:
    service = as_yaml_and_back(inference_service_manifest(SPEC))
    served = loaded(deployment_manifest(SPEC), "V1Deployment").spec.template.spec
    assert (service["apiVersion"], service["kind"]) == (
        "serving.kserve.io/v1beta1",
        "InferenceService",
    )
    metadata = loaded(service["metadata"], "V1ObjectMeta")
    assert metadata.name == "churn-model"
    assert metadata.annotations["serving.kserve.io/enable-prometheus-scraping"] == "true"
    predictor = service["spec"]["predictor"]  # the one required component
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, 5)
    pod_security = loaded(predictor["securityContext"], "V1PodSecurityContext")
    assert pod_security == served.security_context
    (container,) = [loaded(c, "V1Container") for c in predictor["containers"]]
    (model,) = served.containers
    assert container.name == "kserve-container"  # what KServe looks for
    assert container.image == model.image == SPEC.image
    env = {item.name: item for item in container.env}
    assert env["PROTOCOL"].value == "v2"  # the Open Inference Protocol
    assert (
        env["LOOPML_SERVER_URL"].value_from
        == {e.name: e for e in model.env}["LOOPML_SERVER_URL"].value_from
    )
    (port,) = container.ports
    assert port.container_port == 8080 and port.name == "http1"
    for probe in (container.startup_probe, container.readiness_probe, container.liveness_probe):
        assert probe.http_get.port == port.container_port
    assert container.readiness_probe == model.readiness_probe
    assert container.security_context == model.security_context
    assert metadata.annotations["prometheus.kserve.io/port"] == str(port.container_port)


def test_the_agent_is_one_replica_replaced_not_rolled_with_the_serving_secret_and_security() -> (
    None
):
    agent = loaded(as_yaml_and_back(agent_deployment_manifest(SPEC)), "V1Deployment")
    served = loaded(deployment_manifest(SPEC), "V1Deployment").spec.template.spec
    assert agent.metadata.name == "loopml-agent"
    assert agent.spec.replicas == 1
    assert agent.spec.strategy.type == "Recreate"  # never two pods at once during an update
    assert agent.spec.selector.match_labels.items() <= agent.spec.template.metadata.labels.items()
    pod = agent.spec.template.spec
    (container,) = pod.containers
    (model,) = served.containers
    assert container.command == ["loopml", "agent"]
    assert container.image == SPEC.image
    secrets = {e.name: e.value_from for e in model.env if e.value_from is not None}
    assert {e.name: e.value_from for e in container.env} == secrets
    assert set(secrets) == {"LOOPML_SERVER_URL", "LOOPML_TOKEN", "LOOPML_SERVE_TOKEN"}
    # the Pod Security "restricted" level, as the model's pods
    assert pod.security_context == served.security_context
    assert container.security_context == model.security_context
    assert pod.termination_grace_period_seconds >= 60
    assert container.resources.requests and container.resources.limits
