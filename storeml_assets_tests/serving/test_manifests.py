"""docker/k8s/serve.yaml validates against the Kubernetes schemas (offline) and probes the right paths."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

MANIFEST = Path(__file__).resolve().parents[2] / "docker" / "k8s" / "serve.yaml"
K8S_VERSION = "1.37.0"


def _documents() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(MANIFEST.read_text()) if doc]


def test_every_resource_validates_strictly() -> None:
    kinds = []
    for doc in _documents():
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        kinds.append(doc["kind"])
    assert sorted(kinds) == ["Deployment", "HorizontalPodAutoscaler", "Service"]


def test_probes_resources_and_secrets() -> None:
    deployment = next(d for d in _documents() if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert container["envFrom"] == [{"secretRef": {"name": "storeml-serve"}}]
    assert not any("URL" in e["name"] or "TOKEN" in e["name"] for e in container.get("env", []))


def test_a_broken_manifest_is_rejected() -> None:
    deployment = copy.deepcopy(next(d for d in _documents() if d["kind"] == "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] = {"no": 1}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
