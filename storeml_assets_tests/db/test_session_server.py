"""The test suite stops the embedded test server it started, and leaves one it found running.

Each case runs a real pytest session (a one-test file using the suite's ``pg_server_url``
fixture) against an embedded server in a temporary data folder on a free port.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from storeml_assets.db.embedded import EmbeddedPostgres
from storeml_assets_tests.conftest import PROJECT_ROOT, _free_port

PROBE = '''
import psycopg2


def test_uses_the_server(pg_server_url):
    conn = psycopg2.connect(pg_server_url + "/postgres")
    conn.close()
'''


def _session(tmp_path: Path, data_dir: Path, port: int) -> subprocess.CompletedProcess[str]:
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != "STOREML_TEST_PG_URL"}
    env.update(STOREML_TEST_PG_DIR=str(data_dir), STOREML_TEST_PG_PORT=str(port))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "storeml_assets_tests.conftest",
         "--rootdir", str(tmp_path), str(probe)],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )


def test_session_stops_the_server_it_started(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "test-pg", _free_port()
    server = EmbeddedPostgres(data_dir, port, durable=False)
    try:
        result = _session(tmp_path, data_dir, port)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert (data_dir / "data" / "PG_VERSION").exists()  # the session did start one here
        assert not server.status().running
    finally:
        server.stop()


def test_session_leaves_a_server_it_found_running(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "test-pg", _free_port()
    server = EmbeddedPostgres(data_dir, port, durable=False)
    server.ensure_running()
    try:
        pid = server.status().pid
        result = _session(tmp_path, data_dir, port)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert server.status().running and server.status().pid == pid
    finally:
        server.stop()
