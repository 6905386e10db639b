"""Workspace files name the storeml code location the same way everywhere."""

from __future__ import annotations

import tomllib

from storeml_assets_tests.deploy.checks import COMPOSE_FILE, DOCKER_DIR, PROJECT_ROOT, load_yaml

MODULE = "storeml_assets.definitions"
LOCATION = "storeml"


def test_root_workspace_loads_the_module() -> None:
    workspace = load_yaml(PROJECT_ROOT / "workspace.yaml")
    (entry,) = workspace["load_from"]
    assert entry["python_module"] == {"module_name": MODULE, "location_name": LOCATION}


def test_pyproject_names_the_same_location() -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["dagster"] == {"module_name": MODULE, "code_location_name": LOCATION}


def test_docker_workspace_points_at_the_code_location_service() -> None:
    workspace = load_yaml(DOCKER_DIR / "workspace.yaml")
    (entry,) = workspace["load_from"]
    server = entry["grpc_server"]
    assert server["location_name"] == LOCATION
    services = load_yaml(COMPOSE_FILE)["services"]
    assert server["host"] in services, f"workspace host {server['host']!r} is not a compose service"
    command = services[server["host"]]["command"]
    assert command[:3] == ["dagster", "code-server", "start"]
    assert command[command.index("-p") + 1] == str(server["port"])
    assert command[command.index("-m") + 1] == MODULE
    assert command[command.index("--location-name") + 1] == LOCATION


def test_webserver_and_daemon_read_the_docker_workspace() -> None:
    services = load_yaml(COMPOSE_FILE)["services"]
    for name in ("dagster-webserver", "dagster-daemon"):
        command = services[name]["command"]
        assert command[command.index("-w") + 1] == "/opt/dagster/dagster_home/workspace.yaml", name
