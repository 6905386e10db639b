"""`storeml dev` serves the UI without Dagster's warnings about a misplaced dagster.yaml or a superseded
command, and keeps the webserver's and daemon's logs (sensor ticks included) out of the terminal."""

from __future__ import annotations

from pathlib import Path

import pytest

from storeml_assets_tests.ui.server import running_storeml_dev

WARNINGS = ("Found a dagster instance configuration value", "is superseded", "SupersessionWarning")


@pytest.mark.slow
def test_storeml_dev_output_has_no_dagster_warnings(pg_server_url: str, tmp_path: Path) -> None:
    with running_storeml_dev(pg_server_url, tmp_path) as server:
        assert server.graphql("{ version }")["version"]
        home = Path(server.env["STOREML_HOME"])
    terminal = server.log_path.read_text(errors="replace")
    for warning in WARNINGS:
        assert warning not in terminal, warning
    assert f"Dagster UI at http://{server.host}:{server.port}" in terminal.replace("\n", "")
    assert "Serving dagster-webserver" not in terminal  # the webserver's own lines go to the log file
    logs = (home / "logs" / "dagster-dev.log").read_text(errors="replace")
    for warning in WARNINGS:
        assert warning not in logs, warning
