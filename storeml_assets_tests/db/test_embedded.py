"""The embedded server: start, reuse, stop, and one clear line for each problem."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from storeml_assets.db.embedded import EmbeddedPostgres, EmbeddedPostgresError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_start_reuse_stop(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg", _free_port())
    try:
        url = server.ensure_running()
        first = server.status()
        assert first.running and first.port == server.port
        with psycopg2.connect(url + "/postgres") as conn, conn.cursor() as cur:
            cur.execute("show timezone")
            assert cur.fetchone() == ("UTC",)

        # A second handle on the same folder reuses the running server.
        again = EmbeddedPostgres(tmp_path / "pg", server.port)
        assert again.ensure_running() == url
        assert again.status().pid == first.pid
    finally:
        assert server.stop() is True
    assert server.status().running is False
    assert server.stop() is False


def test_unwritable_data_folder_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    server = EmbeddedPostgres(blocker / "pg", _free_port())
    with pytest.raises(EmbeddedPostgresError) as excinfo:
        server.ensure_running()
    message = str(excinfo.value)
    assert str(blocker / "pg") in message
    assert "not writable" in message and "STOREML_HOME" in message
    assert "\n" not in message


def test_busy_port_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        server = EmbeddedPostgres(tmp_path / "pg", port)
        with pytest.raises(EmbeddedPostgresError, match=rf"port {port} .* in use.*STOREML_EMBEDDED_PORT"):
            server.ensure_running()
    assert server.status().running is False


def _storeml(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("storeml")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_errors_never_show_a_password(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREML_")}
    env["STOREML_PG_URL"] = f"postgresql://alice:Sup3rS3cret@127.0.0.1:{_free_port()}"
    env["STOREML_HOME"] = str(tmp_path)
    result = _storeml("db", "migrate", env=env)
    assert result.returncode == 1
    assert "Sup3rS3cret" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "cannot reach database at 127.0.0.1" in lines[0]

    shown = _storeml("db", "url", "mlflow", env=env)
    assert shown.returncode == 0
    assert shown.stdout.strip().endswith("/mlflow")
    assert "Sup3rS3cret" not in shown.stdout and "alice:***@" in shown.stdout


def test_cli_unwritable_home(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREML_")}
    blocker = tmp_path / "file"
    blocker.write_text("x")
    env["STOREML_HOME"] = str(blocker / "home")
    env["STOREML_EMBEDDED_PORT"] = str(_free_port())
    result = _storeml("db", "up", env=env)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "not writable" in result.stderr
