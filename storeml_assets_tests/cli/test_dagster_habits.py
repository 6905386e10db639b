"""Plain Dagster habits in a checkout: `dagster definitions validate -w workspace.yaml` and
`dagster asset materialize -m storeml_assets.definitions --select ...` work with no Dagster
variable set, and land on the project's Postgres-backed instance.

The checkout here is a copy of the repository's ``dagster.yaml`` and ``workspace.yaml`` in a
temporary folder with the ``.env`` storeml writes; the only storeml variables are the data folder
and a free port, so the embedded server (the newcomer's default) is this test's own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from storeml_assets.db.embedded import EmbeddedPostgres
from storeml_assets.instance import write_dotenv
from storeml_assets.settings import Settings
from storeml_assets_tests.conftest import PROJECT_ROOT, _free_port

MISPLACED_YAML_WARNING = "Found a dagster instance configuration value"


@pytest.fixture
def checkout(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """(a checkout folder with its .env, the environment of a shell in it); stops the embedded server after."""
    root = tmp_path / "checkout"
    root.mkdir()
    for name in ("dagster.yaml", "workspace.yaml"):
        shutil.copyfile(PROJECT_ROOT / name, root / name)
    port = _free_port()
    settings = Settings(project_root=root, home=root / ".storeml", server_url=None, embedded_port=port)
    assert write_dotenv(settings) == root / ".env"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STOREML_", "DAGSTER_"))}
    env.update(STOREML_HOME=str(settings.home), STOREML_EMBEDDED_PORT=str(port))
    try:
        yield root, env
    finally:
        EmbeddedPostgres(settings.embedded_data_dir, port).stop()


def _dagster(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("dagster")
    return subprocess.run([str(exe), *args], cwd=root, env=env, capture_output=True, text=True, timeout=600)


def test_dotenv_points_dagster_at_the_project_instance(checkout: tuple[Path, dict[str, str]]) -> None:
    root, _ = checkout
    home = root / ".storeml" / "dagster_home"
    assert (root / ".env").read_text().splitlines()[-1] == f"DAGSTER_HOME={home}"
    assert (home / "dagster.yaml").resolve() == (root / "dagster.yaml").resolve()


def test_plain_dagster_commands_work_without_variables(checkout: tuple[Path, dict[str, str]]) -> None:
    root, env = checkout
    validated = _dagster(root, env, "definitions", "validate", "-w", "workspace.yaml")
    said = validated.stdout + validated.stderr
    assert validated.returncode == 0, said[-3000:]
    assert "Loaded environment variables from .env file: DAGSTER_HOME" in said
    assert "All code locations passed validation" in said
    assert MISPLACED_YAML_WARNING not in said

    # a fresh checkout: nothing migrated yet. Loading the instance migrates every database, so the
    # simulator and then a source table materialize with nothing but plain `dagster` commands.
    env = {**env, "STOREML_SCALE": "tiny"}
    for selection in ("group:synthetic", "raw/categories"):
        materialized = _dagster(
            root, env, "asset", "materialize", "-m", "storeml_assets.definitions", "--select", selection
        )
        output = materialized.stdout + materialized.stderr
        assert MISPLACED_YAML_WARNING not in output
        assert materialized.returncode == 0, f"{selection}: {output[-3000:]}"
        assert "RUN_SUCCESS" in output, output[-3000:]

    # the runs are in the project's instance: the `dagster` database of the embedded server
    url = f"postgresql://postgres@127.0.0.1:{env['STOREML_EMBEDDED_PORT']}/dagster"
    with contextlib.closing(psycopg2.connect(url)) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from runs")
        row = cur.fetchone()
    assert row is not None and row[0] == 2
    assert (root / ".storeml" / "dagster_home").is_dir()
