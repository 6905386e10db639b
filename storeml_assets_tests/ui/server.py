"""A real Dagster webserver + daemon in a subprocess, on isolated databases.

`running_storeml_dev` starts ``storeml dev`` on a free port with every storeml database pointed at
uniquely named databases on the test server, waits until the UI serves the `storeml` code location,
and on exit stops the whole process group and drops the databases. `running_webserver` is the
generic part (any command that serves the Dagster UI and a code location).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests
from dagster_graphql import DagsterGraphQLClient

from storeml_assets.db.urls import with_database
from storeml_assets.settings import ALL_DATABASES, DATABASE_URL_ENV
from storeml_assets_tests.conftest import PROJECT_ROOT, drop_database

STARTUP_TIMEOUT_S = 180.0
LOCATION_NAME = "storeml"

_LOCATION_QUERY = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
}
"""


@dataclass(frozen=True)
class DevServer:
    """A running `storeml dev`: where it listens, its environment and its log file."""

    host: str
    port: int
    location: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def client(self) -> DagsterGraphQLClient:
        """dagster-graphql's client, as an outside program would use it."""
        return DagsterGraphQLClient(self.host, port_number=self.port, timeout=120)

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 60.0) -> dict:
        """POST a GraphQL query to the webserver; returns ``data`` (raises on GraphQL errors)."""
        response = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=timeout
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body["data"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def dev_home(tmp_path: Path, module: str, location: str) -> tuple[Path, Path]:
    """(DAGSTER_HOME with the repository's dagster.yaml, a workspace.yaml loading ``module`` as ``location``)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        "  - python_module:\n"
        f"      module_name: {module}\n"
        f"      location_name: {location}\n"
        f"      working_directory: {PROJECT_ROOT}\n"
    )
    return home, workspace


def isolated_environment(pg_server_url: str, home: Path, **extra: str) -> tuple[dict[str, str], list[str]]:
    """Process environment with every storeml database on fresh names; returns (env, database names)."""
    suffix = uuid.uuid4().hex[:8]
    env = dict(os.environ)
    env.pop("STOREML_PG_URL", None)
    env.pop("DAGSTER_HOME", None)
    names: list[str] = []
    for db in ALL_DATABASES:
        name = f"{db}_{suffix}"
        names.append(name)
        env[DATABASE_URL_ENV[db]] = with_database(pg_server_url, name)
    env["STOREML_HOME"] = str(home)
    env.update(extra)
    return env, names


def _location_status(server: DevServer) -> tuple[str, str | None]:
    """(load status of the server's location, its load error if any); ('', None) before it is known."""
    data = server.graphql(_LOCATION_QUERY, timeout=10.0)["workspaceOrError"]
    for entry in data.get("locationEntries", []):
        if entry["name"] == server.location:
            error = entry.get("locationOrLoadError") or {}
            return entry["loadStatus"], error.get("message")
    return "", None


def wait_until_ready(server: DevServer, timeout: float = STARTUP_TIMEOUT_S) -> None:
    """Poll /server_info, then the workspace, until the server's code location is loaded."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.process.args[1]} exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            if requests.get(f"{server.url}/server_info", timeout=5).ok:
                status, error = _location_status(server)
                if error:
                    raise RuntimeError(f"code location {server.location} failed to load: {error}")
                if status == "LOADED":
                    return
                last = f"location status {status or 'unknown'}"
        except (requests.ConnectionError, requests.Timeout) as exc:
            last = type(exc).__name__
        time.sleep(1.0)
    raise TimeoutError(f"the Dagster UI is not ready after {timeout:.0f}s ({last}):\n{server.log_tail()}")


def stop(process: subprocess.Popen, grace: float = 30.0) -> None:
    """SIGTERM the process group (webserver, daemon, code servers), then SIGKILL what is left."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    # Children may outlive the leader: make sure the whole group is gone.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


@contextlib.contextmanager
def running_webserver(
    args: list[str], env: dict[str, str], log_path: Path, location: str, host: str, port: int
) -> Iterator[DevServer]:
    """Run ``args`` (which must serve the UI on host:port) in its own process group until exit."""
    log = log_path.open("wb")
    process = subprocess.Popen(
        args, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    server = DevServer(host=host, port=port, location=location, env=env, log_path=log_path, process=process)
    try:
        wait_until_ready(server)
        yield server
    finally:
        stop(process)
        log.close()


@contextlib.contextmanager
def running_storeml_dev(pg_server_url: str, workdir: Path, **extra_env: str) -> Iterator[DevServer]:
    """Start `storeml dev` on a free port against fresh databases; stop it and drop them on exit."""
    host = "127.0.0.1"
    port = free_port(host)
    env, names = isolated_environment(pg_server_url, workdir / "home", **extra_env)
    storeml = Path(sys.executable).with_name("storeml")
    args = [str(storeml), "dev", "--host", host, "--port", str(port)]
    try:
        with running_webserver(args, env, workdir / "storeml-dev.log", LOCATION_NAME, host, port) as server:
            yield server
    finally:
        for name in names:
            drop_database(pg_server_url, name)


TERMINAL_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}


def wait_for_run(client: DagsterGraphQLClient, run_id: str, timeout: float = 300.0) -> str:
    """Poll a run (queued, started...) until it ends; returns its final status name."""
    deadline = time.monotonic() + timeout
    status = "unknown"
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id).value
        if status in TERMINAL_STATUSES:
            return status
        time.sleep(1.0)
    raise TimeoutError(f"run {run_id} still {status} after {timeout:.0f}s")
