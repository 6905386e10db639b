"""`storeml mlflow --port N` serves the MLflow UI on the project's tracking store (the `mlflow` database)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import requests

from storeml_assets.settings import DATABASE_URL_ENV
from storeml_assets_tests.conftest import _free_port

STARTUP_LIMIT_S = 300  # a readiness limit on a loaded machine, not an assertion about speed


def test_mlflow_ui_serves_the_project_store(isolated_env: dict[str, str], tmp_path: Path) -> None:
    port = _free_port()
    password = "Qmlfl0wUi"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STOREML_", "DAGSTER_"))}
    env.update({DATABASE_URL_ENV[db]: url for db, url in isolated_env.items()}, STOREML_HOME=str(tmp_path))
    env["STOREML_MLFLOW_DB_URL"] = isolated_env["mlflow"].replace("postgres@", f"postgres:{password}@", 1)
    storeml = Path(sys.executable).with_name("storeml")
    log = (tmp_path / "mlflow-ui.log").open("wb")
    process = subprocess.Popen([str(storeml), "mlflow", "--port", str(port)], env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_LIMIT_S
        ready = False
        while not ready and time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(requests.RequestException):
                ready = requests.get(f"http://127.0.0.1:{port}/health", timeout=5).ok
            time.sleep(1)
        output = (tmp_path / "mlflow-ui.log").read_text(errors="replace")
        assert ready, output[-3000:]
        found = requests.post(f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/search",
                              json={"max_results": 10}, timeout=30)
        assert found.ok, found.text
        # the UI's store is the project's `mlflow` database: the experiment it lists is stored there
        names = {e["name"] for e in found.json()["experiments"]}
        conn = psycopg2.connect(isolated_env["mlflow"])
        try:
            with conn.cursor() as cur:
                cur.execute("select name from experiments")
                assert names == {row[0] for row in cur.fetchall()} and names
        finally:
            conn.close()
        assert f"MLflow UI at http://127.0.0.1:{port}" in output
        assert password not in output
        assert password not in Path(f"/proc/{process.pid}/cmdline").read_text()  # the URL is not an argument
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()
