"""docker/docker-compose.yml: parses, and every image, build, variable, volume and dependency resolves."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from storeml_assets_tests.deploy.checks import (
    COMPOSE_FILE,
    DOCKER_DIR,
    ENV_EXAMPLE,
    depends_on_names,
    env_example_entries,
    literal_secrets,
    load_yaml,
    named_volumes_used,
    variable_references,
)

STOREML_SERVICES = ("migrate", "storeml-code", "dagster-webserver", "dagster-daemon", "mlflow", "serve")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    parsed = load_yaml(COMPOSE_FILE)
    assert isinstance(parsed, dict), "docker-compose.yml must be a mapping"
    return parsed


def test_expected_services_exist(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"postgres", *STOREML_SERVICES}


def test_every_service_has_an_image_or_a_build_whose_dockerfile_exists(compose: dict[str, Any]) -> None:
    for name, spec in compose["services"].items():
        assert spec.get("image") or spec.get("build"), f"{name}: neither image nor build"
        build = spec.get("build")
        if build is None:
            continue
        context = (DOCKER_DIR / (build if isinstance(build, str) else build["context"])).resolve()
        assert context.is_dir(), f"{name}: build context {context} missing"
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (context / dockerfile).is_file(), f"{name}: {dockerfile} missing under {context}"


def test_storeml_services_share_one_image_built_from_the_repo_root(compose: dict[str, Any]) -> None:
    images = {compose["services"][name]["image"] for name in STOREML_SERVICES}
    assert images == {"${STOREML_IMAGE:-storeml:latest}"}
    build = compose["services"]["migrate"]["build"]
    assert (DOCKER_DIR / build["context"]).resolve() == DOCKER_DIR.parent.resolve()
    assert build["dockerfile"] == "docker/Dockerfile"


def test_every_variable_is_listed_in_env_example(compose: dict[str, Any]) -> None:
    listed = env_example_entries()
    referenced = {ref.name for ref in variable_references(compose)}
    missing = sorted(referenced - set(listed))
    assert not missing, f"referenced in docker-compose.yml but not in .env.example: {missing}"
    stale = sorted(set(listed) - referenced)
    assert not stale, f"listed in .env.example but never used by docker-compose.yml: {stale}"


def test_required_variables_are_uncommented_and_empty_in_env_example(compose: dict[str, Any]) -> None:
    listed = env_example_entries()
    required = {ref.name for ref in variable_references(compose) if ref.required}
    assert required == {"POSTGRES_PASSWORD"}
    for name in required:
        value, commented = listed[name]
        assert not commented, f"{name} is required: it must be an active line in .env.example"
        assert value == "", f"{name} must have no value in .env.example (it is an example, not a secret)"


def test_optional_variables_have_defaults(compose: dict[str, Any]) -> None:
    for ref in variable_references(compose):
        assert ref.required or ref.has_default, f"{ref.where}: ${{{ref.name}}} has neither default nor :?"


def test_no_literal_secret_in_compose_file(compose: dict[str, Any]) -> None:
    assert literal_secrets(compose) == []


def test_literal_secret_detector_catches_literals() -> None:
    leaky = {
        "services": {
            "db": {"environment": {"POSTGRES_PASSWORD": "hunter2", "URL": "postgresql://u:hunter2@h:5432/x"}},
            "ok": {"environment": {"POSTGRES_PASSWORD": "${POSTGRES_PASSWORD:?x}"}},
        }
    }
    found = literal_secrets(leaky)
    assert any("db.environment.POSTGRES_PASSWORD" in f for f in found)
    assert any("URL with a literal password" in f for f in found)
    assert not any(".ok." in f for f in found)


def test_named_volumes_are_declared_and_used(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used = named_volumes_used(compose)
    for service, volumes in used.items():
        for volume in volumes:
            assert volume in declared, f"{service}: volume {volume!r} is not declared at top level"
    assert declared == {v for vs in used.values() for v in vs}, "a declared volume is never mounted"
    assert "pgdata" in used["postgres"] and "mlflow_artifacts" in used["mlflow"]
    # Step logs written by runs in storeml-code must be readable by the webserver.
    assert "dagster_storage" in used["storeml-code"] and "dagster_storage" in used["dagster-webserver"]


def test_depends_on_names_exist_and_order_startup(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, spec in services.items():
        for dep in depends_on_names(spec):
            assert dep in services, f"{name}: depends_on unknown service {dep!r}"
            assert dep != name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("storeml-code", "mlflow"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name in ("dagster-webserver", "dagster-daemon"):
        assert services[name]["depends_on"]["storeml-code"]["condition"] == "service_healthy"


def test_postgres_health_check_uses_pg_isready(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"].startswith("${POSTGRES_IMAGE:-postgres:"), "official postgres image by default"
    assert any("pg_isready" in part for part in postgres["healthcheck"]["test"])
    assert postgres["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_migrate_runs_storeml_db_migrate_once(compose: dict[str, Any]) -> None:
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["storeml", "db", "migrate"]
    assert migrate["restart"] == "no"


def test_storeml_services_get_their_settings_from_the_environment(compose: dict[str, Any]) -> None:
    for name in ("migrate", "storeml-code", "dagster-webserver", "dagster-daemon"):
        env = compose["services"][name]["environment"]
        assert env["STOREML_PG_URL"].endswith("@postgres:5432")
        assert env["STOREML_DAGSTER_DB_URL"].endswith("@postgres:5432/dagster")
        assert env["STOREML_SOURCE_MODE"] == "${STOREML_SOURCE_MODE:-synthetic}"
        assert env["STOREML_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
        assert env["DAGSTER_HOME"] == "/opt/dagster/dagster_home"
        for var in (
            "STOREML_AUTH_DB_URL",
            "STOREML_PRODUCT_DB_URL",
            "STOREML_CART_DB_URL",
            "STOREML_PROMOTION_DB_URL",
            "STOREML_STOREFRONT_DB_URL",
        ):
            # Empty by default: the simulator's databases on the compose server.
            assert env[var] == f"${{{var}:-}}", f"{name}: {var} must default to empty"


def test_mlflow_server_on_the_mlflow_database_with_allowed_hosts(compose: dict[str, Any]) -> None:
    mlflow = compose["services"]["mlflow"]
    command = mlflow["command"]
    assert command[:2] == ["mlflow", "server"]
    assert "--allowed-hosts" in command
    hosts = command[command.index("--allowed-hosts") + 1]
    assert "mlflow:5000" in hosts and "*" not in hosts.split(":-", 1)[-1].split(",")
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--artifacts-destination") + 1] == "/var/lib/mlflow/artifacts"
    assert mlflow["environment"]["MLFLOW_BACKEND_STORE_URI"].endswith("@postgres:5432/mlflow")
    assert not any("postgresql://" in part for part in command), "backend URI must not be on the command line"


def test_published_ports_bind_loopback_only(compose: dict[str, Any]) -> None:
    for name, spec in compose["services"].items():
        for port in spec.get("ports") or []:
            assert str(port).startswith("127.0.0.1:"), f"{name}: port {port} is published on all interfaces"


def _compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def _run_compose_config(env_file: Path) -> subprocess.CompletedProcess[str]:
    command = _compose_command()
    if command is None:
        pytest.skip(
            "no docker-compose / docker compose plugin on this machine (apt-get install docker-compose)"
        )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POSTGRES_", "STOREML_", "MLFLOW_", "DAGSTER_"))
    }
    return subprocess.run(
        [*command, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=DOCKER_DIR,
        timeout=60,
    )


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    """Compose's own schema and interpolation check, without an engine."""
    password = secrets.token_urlsafe(16)
    env_file = tmp_path / ".env"
    env_file.write_text(
        ENV_EXAMPLE.read_text().replace("POSTGRES_PASSWORD=\n", f"POSTGRES_PASSWORD={password}\n")
    )
    result = _run_compose_config(env_file)
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    assert set(rendered["services"]) == {"postgres", *STOREML_SERVICES}
    assert rendered["services"]["dagster-daemon"]["environment"]["STOREML_DAGSTER_DB_URL"] == (
        f"postgresql://storeml:{password}@postgres:5432/dagster"
    )


def test_docker_compose_config_refuses_a_missing_password(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(ENV_EXAMPLE.read_text())
    result = _run_compose_config(env_file)
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr
