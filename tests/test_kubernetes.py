"""deploy/k8s, checked offline: no kubectl, kustomize or cluster runs here.

What is checked: each overlay builds (tests/kustomize.py, the subset of kustomize the files
use; an unsupported field fails the build); every object of a Kubernetes API kind validates
against the API's schema (kubernetes-validate, strict: unknown fields fail too); KEDA's
ScaledObjects and TriggerAuthentications, which kubernetes-validate has no schema for,
against the few fields of theirs these files use (a schema of ours below); and what the
engine needs of them: every PARTY_* name is a setting, the values parse, probes, grace periods
against the shutdown budget, selectors, the scheduler's two replicas, the queues KEDA watches.

What is not: that the objects apply to a real cluster (admission, the CRDs' own schemas,
Ingress or network behaviour), nor that kustomize itself renders them byte for byte alike.
"""

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from party_engine.backends.queue_topology import BINDINGS, Topology
from party_engine.config import Settings
from tests.kustomize import build

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "production")
KUBERNETES_VERSION = "1.30.0"  # the oldest minor still supported by the major clouds
# Created apart from the files in production (docs/kubernetes.md), with these keys.
EXTERNAL_SECRET_KEYS = {"party-engine": {"PARTY_JWT_SECRET", "PARTY_AMQP_URL"}}
SETTINGS = {f"PARTY_{name.upper()}" for name in Settings.model_fields}

_TRIGGER = {
    "type": "object",
    "required": ["type", "metadata"],
    "properties": {
        "type": {"enum": ["prometheus", "rabbitmq", "cpu"]},
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        "metricType": {"enum": ["Utilization", "AverageValue"]},
        "authenticationRef": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {"name": {"type": "string"}},
        },
    },
    "additionalProperties": False,
}
# The fields of KEDA's v1alpha1 CRDs these files use, as KEDA documents them.
KEDA_SCHEMAS = {
    "ScaledObject": {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "triggers"],
                "additionalProperties": False,
                "properties": {
                    "scaleTargetRef": {
                        "type": "object",
                        "required": ["name"],
                        "additionalProperties": False,
                        "properties": {"name": {"type": "string"}},
                    },
                    "minReplicaCount": {"type": "integer", "minimum": 0},
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "pollingInterval": {"type": "integer", "minimum": 1},
                    "advanced": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "horizontalPodAutoscalerConfig": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {"behavior": {"type": "object"}},
                            }
                        },
                    },
                    "triggers": {"type": "array", "minItems": 1, "items": _TRIGGER},
                },
            }
        },
    },
    "TriggerAuthentication": {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "secretTargetRef": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["parameter", "name", "key"],
                            "additionalProperties": False,
                            "properties": {
                                "parameter": {"type": "string"},
                                "name": {"type": "string"},
                                "key": {"type": "string"},
                            },
                        },
                    }
                },
            }
        },
    },
}


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request) -> tuple[str, list[dict[str, Any]]]:
    return request.param, build(K8S / "overlays" / request.param)


def test_every_object_validates_against_its_schema(overlay):
    _, objects = overlay
    for obj in objects:
        if obj["apiVersion"] == "keda.sh/v1alpha1":
            jsonschema.validate(obj, KEDA_SCHEMAS[obj["kind"]])
        else:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_every_party_variable_is_a_setting_and_every_role_gets_valid_settings(overlay):
    name, objects = overlay
    for deployment in _engine_deployments(objects):
        env = _environment(objects, _container(deployment), external=name == "production")
        for variable in env:
            if variable.startswith("PARTY_"):
                assert variable in SETTINGS, f"{name}: {variable} is not a setting"
        settings = _settings(env)
        assert settings.log_format == "json"
        assert settings.host == "0.0.0.0"


def test_gateways_probe_liveness_without_backends_and_readiness_with_them(overlay):
    _, objects = overlay
    gateway = _container(_one(objects, "Deployment", "party-gateway"))
    assert gateway["args"] == ["serve"]
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    ports = {port["name"]: port["containerPort"] for port in gateway["ports"]}
    assert ports["http"] == 8000 and ports["metrics"] == 9100
    for deployment in _engine_deployments(objects):
        probe = _container(deployment).get("livenessProbe")
        assert probe is None or probe["httpGet"]["path"] == "/healthz"


def test_every_role_is_killed_only_after_its_shutdown_budget(overlay):
    name, objects = overlay
    least = {  # what each role finishes after SIGTERM, as tests/test_deployment_files.py
        "serve": Settings.model_fields["drain_seconds"].default * 2,
        "worker": Settings.model_fields["event_lock_seconds"].default,
        "scheduler": 10,
        "relay": 10,
        "archive": 10,
    }
    for deployment in _engine_deployments(objects):
        pod = deployment["spec"]["template"]["spec"]
        container = _container(deployment)
        settings = _settings(_environment(objects, container, external=name == "production"))
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {})
        sleep = float(pre_stop["command"][1]) if pre_stop else 0.0
        # The grace period counts from the preStop hook; SIGTERM comes after it.
        budget = pod["terminationGracePeriodSeconds"] - sleep
        assert settings.shutdown_seconds + 2 <= budget, deployment["metadata"]["name"]
        assert settings.shutdown_seconds > least[container["args"][0]]
        assert settings.drain_seconds < settings.shutdown_seconds
    gateway = _container(_one(objects, "Deployment", "party-gateway"))
    assert gateway["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"


def test_selectors_name_the_pods_and_the_scheduler_runs_two_for_its_lease(overlay):
    _, objects = overlay
    pods = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in objects
        if d["kind"] == "Deployment"
    }
    for obj in objects:
        if obj["kind"] in {"Deployment", "PodDisruptionBudget"}:
            selector = obj["spec"]["selector"]["matchLabels"]
        elif obj["kind"] == "Service":
            selector = obj["spec"]["selector"]
        else:
            continue
        assert any(selector.items() <= labels.items() for labels in pods.values()), obj
    assert _one(objects, "Deployment", "party-scheduler")["spec"]["replicas"] == 2
    assert _one(objects, "Deployment", "party-relay")["spec"]["replicas"] >= 2
    assert _one(objects, "PodDisruptionBudget", "party-gateway")


def test_every_config_and_secret_a_pod_reads_is_in_the_build_or_named_as_external(overlay):
    name, objects = overlay
    for deployment in (d for d in objects if d["kind"] == "Deployment"):
        for source in _container(deployment).get("envFrom", []):
            if "configMapRef" in source:
                _one(objects, "ConfigMap", source["configMapRef"]["name"])
            else:
                secret = source["secretRef"]["name"]
                found = [
                    o for o in objects if (o["kind"], o["metadata"]["name"]) == ("Secret", secret)
                ]
                assert found or (name == "production" and secret in EXTERNAL_SECRET_KEYS)


def test_production_scales_gateways_on_connections_and_workers_on_their_queues():
    objects = build(K8S / "overlays" / "production")
    scaled = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "ScaledObject"}
    deployments = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
    assert {spec["scaleTargetRef"]["name"] for spec in scaled.values()} <= deployments
    assert "party-scheduler" not in {spec["scaleTargetRef"]["name"] for spec in scaled.values()}
    # On the connections open now, and on those the schedule forecasts within 15 minutes.
    now, ahead = scaled["party-gateway"]["triggers"]
    assert now["type"] == "prometheus" and "party_connections{" in now["metadata"]["query"]
    assert ahead["type"] == "prometheus"
    assert "party_forecast_connections{" in ahead["metadata"]["query"]
    assert 'horizon="15m"' in ahead["metadata"]["query"]
    assert ahead["metadata"]["threshold"] == now["metadata"]["threshold"]
    queues = {t["metadata"]["queueName"] for t in scaled["party-worker"]["triggers"]}
    topology = Topology()
    assert queues <= {topology.queue(name) for name in BINDINGS}
    assert topology.queue("counters") in queues
    auth = {o["metadata"]["name"]: o for o in objects if o["kind"] == "TriggerAuthentication"}
    for trigger in scaled["party-worker"]["triggers"]:
        (ref,) = auth[trigger["authenticationRef"]["name"]]["spec"]["secretTargetRef"]
        assert ref["key"] in EXTERNAL_SECRET_KEYS[ref["name"]]
    for spec in scaled.values():
        assert spec["minReplicaCount"] >= 2  # a PodDisruptionBudget lets one go at a time


def test_dev_runs_its_own_backends_and_production_points_at_external_ones():
    dev = build(K8S / "overlays" / "dev")
    assert {"redis", "rabbitmq", "sns"} <= {
        o["metadata"]["name"] for o in dev if o["kind"] == "Service"
    }
    assert not [o for o in dev if o["apiVersion"].startswith("keda.sh")]
    production = build(K8S / "overlays" / "production")
    assert not [o for o in production if o["metadata"]["name"] in {"redis", "rabbitmq"}]
    assert not [o for o in production if o["kind"] == "Secret"]
    images = {_container(d)["image"] for d in production if d["kind"] == "Deployment"}
    assert images == {"registry.example.com/party-engine:0.1.0"}


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (obj,) = [o for o in objects if (o["kind"], o["metadata"]["name"]) == (kind, name)]
    return obj


def _engine_deployments(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        o
        for o in objects
        if o["kind"] == "Deployment"
        and _container(o)["image"].split(":")[0].endswith("party-engine")
    ]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _environment(objects, container: dict[str, Any], *, external: bool) -> dict[str, str]:
    """The container's variables as the kubelet sets them (a Secret made apart: any value)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(_one(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
        else:
            name = source["secretRef"]["name"]
            if external:
                env.update(dict.fromkeys(EXTERNAL_SECRET_KEYS[name], "x" * 32))
            else:
                env.update(_one(objects, "Secret", name)["stringData"])
    env.update({item["name"]: item["value"] for item in container.get("env", [])})
    return env


def _settings(env: dict[str, str]) -> Settings:
    if env.get("PARTY_AMQP_URL", "").startswith("x"):
        env = {**env, "PARTY_AMQP_URL": "amqp://user:password@rabbitmq:5672/"}
    party = {k.removeprefix("PARTY_").lower(): v for k, v in env.items() if k.startswith("PARTY_")}
    return Settings(**party)
