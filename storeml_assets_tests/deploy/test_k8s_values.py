"""docker/k8s/values.yaml: every key exists in Dagster's Helm chart, and the deployment is the one meant."""

from __future__ import annotations

from typing import Any

import pytest

from storeml_assets_tests.deploy.checks import CHART_KEYS, K8S_VALUES, load_yaml, unknown_chart_keys


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return load_yaml(K8S_VALUES)


@pytest.fixture(scope="module")
def chart_keys() -> dict[str, Any]:
    return load_yaml(CHART_KEYS)


def test_every_key_path_exists_in_the_chart(values: dict[str, Any], chart_keys: dict[str, Any]) -> None:
    assert unknown_chart_keys(values, chart_keys) == []


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"dagsterDaemon": {"runCoordinater": {}}}, "dagsterDaemon.runCoordinater: not a key of the chart"),
        ({"postgresql": {"enabled": "false"}}, "postgresql.enabled: expected bool, got str"),
        (
            {"dagster-user-deployments": {"deployments": [{"name": "x", "port": "4000"}]}},
            "dagster-user-deployments.deployments[0].port: expected int, got str",
        ),
        (
            {"dagsterDaemon": {"runMonitoring": {"startTimeout": 1}}},
            "dagsterDaemon.runMonitoring.startTimeout: not a key of the chart",
        ),
    ],
)
def test_key_checker_rejects_typos_and_wrong_types(
    chart_keys: dict[str, Any], patch: dict, expected: str
) -> None:
    assert expected in unknown_chart_keys(patch, chart_keys)


def test_external_postgres_from_a_secret(values: dict[str, Any]) -> None:
    assert values["postgresql"]["enabled"] is False
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]
    assert "postgresqlPassword" not in values["postgresql"], "the password comes from the secret"
    assert values["postgresql"]["postgresqlHost"]


def test_user_code_deployment_runs_storeml(values: dict[str, Any]) -> None:
    section = values["dagster-user-deployments"]
    assert section["enabled"] is True
    (deployment,) = section["deployments"]
    assert deployment["image"]["repository"].endswith("/storeml")
    assert deployment["image"]["tag"] not in {"", "latest"}, "an immutable tag per release"
    args = deployment["codeServerArgs"]
    assert args[args.index("--module-name") + 1] == "storeml_assets.definitions"
    assert args[args.index("--location-name") + 1] == "storeml"
    assert deployment["port"] == 4000
    assert deployment["podSecurityContext"]["runAsUser"] == 10001  # the image's non-root user
    assert {"name": "storeml-env"} in deployment["envSecrets"]


def test_k8s_run_launcher_with_secrets(values: dict[str, Any]) -> None:
    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    assert {"name": "storeml-env"} in launcher["config"]["k8sRunLauncher"]["envSecrets"]


def test_queued_runs_with_run_level_concurrency(values: dict[str, Any]) -> None:
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] is True and coordinator["type"] == "QueuedRunCoordinator"
    queued = coordinator["config"]["queuedRunCoordinator"]
    assert queued["maxConcurrentRuns"] > 0
    limits = {(item["key"], item.get("value")): item["limit"] for item in queued["tagConcurrencyLimits"]}
    assert limits[("storeml/job", "retraining")] == 1
    # The chart fails to render when both places set run limits.
    runs = values.get("concurrency", {}).get("runs", {})
    assert "maxConcurrentRuns" not in runs and not runs.get("tagConcurrencyLimits")


def test_run_monitoring_retries_pools_retention_telemetry(values: dict[str, Any]) -> None:
    daemon = values["dagsterDaemon"]
    assert daemon["runMonitoring"]["enabled"] is True
    assert daemon["runMonitoring"]["startTimeoutSeconds"] > 0
    assert daemon["runMonitoring"]["cancelTimeoutSeconds"] > 0
    assert daemon["runRetries"] == {"enabled": True, "maxRetries": 1, "retryOnAssetOrOpFailure": True}
    assert values["concurrency"]["enabled"] is True and values["concurrency"]["pools"]["defaultLimit"] >= 1
    # The chart's schema requires every tick type when purgeAfterDays is given per type.
    assert set(values["retention"]["sensor"]["purgeAfterDays"]) == {
        "skipped",
        "success",
        "failure",
        "started",
    }
    assert values["telemetry"]["enabled"] is False
