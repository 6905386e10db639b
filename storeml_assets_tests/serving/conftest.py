"""A real serving stack: a migrated ``storeml`` database, an MLflow store on the test server with two
registered purchase-propensity versions, and the API started as a uvicorn process on loopback."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import mlflow
import psycopg2
import pytest
from psycopg2 import sql

from storeml_assets.db.admin import create_database, drop_database
from storeml_assets.db.urls import sqlalchemy_url, with_database
from storeml_assets.features.customer import FEATURE_SPEC, LABEL
from storeml_assets.ml.mlflow_resource import MlflowTracking
from storeml_assets.ml.train import train_model
from storeml_assets.settings import ALL_DATABASES, DATABASE_URL_ENV
from storeml_assets_tests.serving.frames import feature_frame

FAMILY = "purchase_propensity"
PORTS = range(24700, 24750)

#: Starts the API like ``storeml serve`` does, with a fast poll and a small log queue so tests see drops.
LAUNCHER = """
import dataclasses, sys, uvicorn
from storeml_assets.serving.app import create_app
from storeml_assets.serving.config import ServeConfig
config = dataclasses.replace(ServeConfig.from_settings(), poll_seconds=0.3, log_queue_size=40, log_batch_size=10,
                             pool_timeout_seconds=1.0, connect_timeout_seconds=2)
uvicorn.run(create_app(config), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def instance(seed: int = 0) -> dict[str, object]:
    row = feature_frame(1, seed).iloc[0]
    return {c: (float(row[c]) if c in FEATURE_SPEC.numeric else str(row[c])) for c in FEATURE_SPEC.columns}


class PortTaken(RuntimeError):
    """The port answers for another process than the server started on it."""


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def set_connections(server_url: str, database: str, allowed: bool) -> None:
    """Let connections into ``database`` again, or refuse new ones and end the open ones (an outage)."""
    conn = psycopg2.connect(with_database(server_url, "postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("alter database {} with allow_connections {}").format(
                sql.Identifier(database), sql.Literal(allowed)))
            if not allowed:
                cur.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (database,))
    finally:
        conn.close()


@dataclass
class Stack:
    server_url: str
    env: dict[str, str]
    storeml_db: str
    mlflow_db: str
    tracking: MlflowTracking
    home: Path
    versions: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, attempts: int = 3) -> None:
        """Start the server on a free port; another process taking that port first (a second suite running
        beside this one) costs an attempt, never a test talking to the wrong server."""
        for attempt in range(1, attempts + 1):
            self.port = _free_port()
            log = (self.home / f"serve-{self.port}-{uuid.uuid4().hex[:6]}.log").open("wb")
            self.process = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(self.port)], env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_for(lambda: self._answers("/health"), 60, "the server to answer /health")
                return
            except PortTaken:
                self.stop()
                if attempt == attempts:
                    raise

    def _answers(self, path: str) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"the server exited with {self.process.returncode}")
        try:
            response = httpx.get(self.base + path, timeout=2)
        except httpx.TransportError:
            return False
        if path == "/health" and response.status_code == 200 and response.json().get("worker_pid") != self.process.pid:
            raise PortTaken(f"port {self.port} answers for process {response.json().get('worker_pid')}, "
                            f"not the server started here ({self.process.pid})")
        return response.status_code == 200

    def ready(self) -> bool:
        return self._answers("/ready")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def promote(self, version: str) -> None:
        self.tracking.promote(FAMILY, version)

    def write_features(self, rows: dict[int, list[dict[str, object]]]) -> None:
        """``features.customer_features`` with the given rows per customer, oldest cutoff first."""
        columns = list(FEATURE_SPEC.columns)
        numeric = set(FEATURE_SPEC.numeric)
        ddl = ", ".join(f'"{c}" {"double precision" if c in numeric else "text"}' for c in columns)
        conn = psycopg2.connect(with_database(self.server_url, self.storeml_db))
        try:
            with conn, conn.cursor() as cur:
                cur.execute(f"create table features.customer_features (customer_id bigint, cutoff timestamptz, {ddl})")
                for customer, history in rows.items():
                    for day, values in enumerate(history, start=1):
                        cur.execute(
                            f"insert into features.customer_features values (%s, %s, {', '.join(['%s'] * len(columns))})",
                            (customer, f"2026-01-{day:02d}", *(values[c] for c in columns)),
                        )
        finally:
            conn.close()

    def storeml_query(self, query: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        conn = psycopg2.connect(with_database(self.server_url, self.storeml_db))
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                return list(cur.fetchall())
        finally:
            conn.close()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture(scope="module")
def stack(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    suffix = uuid.uuid4().hex[:8]
    home = tmp_path_factory.mktemp("serve-home")
    names = {db: f"{db}_{suffix}" for db in ALL_DATABASES}
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREML_")}
    env.update({DATABASE_URL_ENV[db]: with_database(pg_server_url, name) for db, name in names.items()})
    env["STOREML_HOME"] = str(home)
    created: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            if key.startswith("STOREML_"):
                patch.setenv(key, value)
        from storeml_assets.db.migrate import migrate

        try:
            created.append(names["storeml"])
            migrate(databases=["storeml"])
            create_database(pg_server_url, names["mlflow"])
            created.append(names["mlflow"])
            tracking = MlflowTracking(tracking_uri=sqlalchemy_url(with_database(pg_server_url, names["mlflow"])),
                                      artifact_location=str(home / "artifacts"), experiment_name="serving-test")
            stack = Stack(pg_server_url, env, names["storeml"], names["mlflow"], tracking, home)
            for seed in (1, 2):
                frame = feature_frame(400, seed)
                model = train_model(frame, label=LABEL, features=FEATURE_SPEC, seed=seed, n_threads=1)
                with tracking.start_run(None, run_name=f"serving-test-{seed}"):
                    _, version = tracking.log_and_register(model, model_name=FAMILY,
                                                           input_example=frame[list(FEATURE_SPEC.columns)])
                stack.versions.append(version)
            while mlflow.active_run() is not None:
                mlflow.end_run()
            mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # back to the default (the stubs omit None)
            yield stack
            stack.stop()
        finally:
            for name in created:
                with contextlib.suppress(psycopg2.Error):  # never created when migrate failed early
                    set_connections(pg_server_url, name, True)
                drop_database(pg_server_url, name)
