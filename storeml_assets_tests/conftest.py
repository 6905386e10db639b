"""Shared fixtures: a real PostgreSQL server, and a fresh database per test.

The suite uses the server named by ``STOREML_TEST_PG_URL`` when set; otherwise it starts
(or reuses) an embedded server under ``.storeml/test-pg`` (``STOREML_TEST_PG_DIR``) on
``STOREML_TEST_PG_PORT`` (54339, or a free port when something else already holds 54339 and no
port was requested), and stops it at the end of the session if the session started it.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storeml_assets.db.admin import create_database, drop_database
from storeml_assets.db.embedded import EmbeddedPostgres
from storeml_assets.db.urls import with_database

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of the server the tests use (no database part).

    An embedded test server this session started is stopped when the session ends; one that was
    already running (another session's, or started by hand) is left running.
    """
    configured = os.environ.get("STOREML_TEST_PG_URL", "").strip()
    if configured:
        yield configured
        return
    requested = os.environ.get("STOREML_TEST_PG_PORT", "").strip()
    embedded = embedded_test_server(requested)
    started_here = not embedded.status().running
    url = embedded.ensure_running()
    try:
        yield url
    finally:
        if started_here:
            embedded.stop()


def embedded_test_server(requested_port: str = "") -> EmbeddedPostgres:
    """The suite's own embedded server under ``.storeml/test-pg`` (``STOREML_TEST_PG_DIR``; port 54339 unless busy or requested)."""
    data_dir = Path(os.environ.get("STOREML_TEST_PG_DIR", "").strip() or PROJECT_ROOT / ".storeml" / "test-pg")
    embedded = EmbeddedPostgres(data_dir, int(requested_port or 54339), durable=False)
    if not requested_port and not embedded.status().running and _port_in_use(embedded.port):
        # another checkout's test server (or anything else) holds the default port: take a free one
        embedded.port = _free_port()
    return embedded


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fresh_db(pg_server_url: str) -> Iterator[str]:
    """A brand-new, empty database for one test; dropped afterwards. Yields its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = create_database(pg_server_url, name)
    try:
        yield url
    finally:
        drop_database(pg_server_url, name)


@pytest.fixture
def isolated_env(tmp_path: Path, pg_server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Environment pointing every storeml database at uniquely named databases on the test server.

    Yields the mapping database -> URL. The databases are created on demand by the code under
    test (e.g. the migration runner) and dropped afterwards.
    """
    from storeml_assets.settings import ALL_DATABASES, DATABASE_URL_ENV

    suffix = uuid.uuid4().hex[:8]
    urls: dict[str, str] = {}
    for db in ALL_DATABASES:
        name = f"{db}_{suffix}"
        urls[db] = with_database(pg_server_url, name)
        monkeypatch.setenv(DATABASE_URL_ENV[db], urls[db])
    monkeypatch.setenv("STOREML_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("STOREML_PG_URL", raising=False)
    try:
        yield urls
    finally:
        for url in urls.values():
            drop_database(pg_server_url, url.rsplit("/", 1)[1])


@pytest.fixture
def project_instance(tmp_path: Path, fresh_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The repository's dagster.yaml on a fresh storage database; STOREML_HOME under tmp_path."""
    import dagster as dg

    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    monkeypatch.setenv("STOREML_DAGSTER_DB_URL", fresh_db)
    monkeypatch.setenv("STOREML_HOME", str(tmp_path / "home"))
    instance = dg.DagsterInstance.get()
    try:
        yield instance
    finally:
        instance.dispose()
