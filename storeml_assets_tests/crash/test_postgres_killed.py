"""Postgres killed mid-write, then restarted: the next storeml start leaves no run STARTED and no slot held.

A throw-away embedded server holds the Dagster instance's storage and the table being written. A
real process runs a run whose step, holding a ``postgres_heavy_write`` slot, is writing a large
table when every Postgres process is killed with SIGKILL. The server is restarted (crash
recovery); the run is still STARTED with its slot claimed, whatever became of its process. The next
start (the demo's first stage) fails it and frees the slot, and the next run completes.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psutil
import psycopg2
import pytest
from rich.console import Console

from storeml_assets.db.admin import create_database
from storeml_assets.db.embedded import EmbeddedPostgres
from storeml_assets.db.urls import with_database
from storeml_assets.demo import Demo
from storeml_assets.recovery import slot_holders
from storeml_assets.run_guard import execute_guarded
from storeml_assets.settings import Settings
from storeml_assets_tests.conftest import PROJECT_ROOT, _free_port
from storeml_assets_tests.crash.helpers import kill_hard, start, wait_ready
from storeml_assets_tests.crash.runner import quick_job

#: How long the run's process gets to notice that its database is gone before it is killed too.
PROCESS_EXIT_TIMEOUT = 120.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A throw-away embedded server on a free port, stopped afterwards."""
    pg = EmbeddedPostgres(tmp_path / "pg", _free_port(), durable=False)
    pg.ensure_running()
    try:
        yield pg
    finally:
        pg.stop()


def _kill_postgres(pg: EmbeddedPostgres) -> None:
    """SIGKILL the postmaster and every one of its processes, as a crash or the OOM killer does."""
    status = pg.status()
    assert status.running and status.pid is not None
    postmaster = psutil.Process(status.pid)
    victims = [postmaster, *postmaster.children(recursive=True)]
    for process in victims:
        process.kill()
    psutil.wait_procs(victims, timeout=60)


@pytest.mark.slow
def test_postgres_killed_mid_write_then_restarted(
    server: EmbeddedPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = server.server_url()
    dagster_url = create_database(base, "dagster")
    work_url = create_database(base, "work")
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    monkeypatch.setenv("STOREML_DAGSTER_DB_URL", dagster_url)
    monkeypatch.setenv("STOREML_HOME", str(tmp_path / "home"))
    assert with_database(base, "work") == work_url

    ready, log = tmp_path / "ready", tmp_path / "writer.log"
    writer = start("storeml_assets_tests.crash.runner", "write", str(tmp_path / "home"), str(ready), work_url, log=log)
    try:
        wait_ready(writer, ready, log)
        run_id = ready.read_text()
        # The embedded server commits without waiting for the WAL flush (synchronous_commit=off: a crash
        # may lose the last ~200 ms of commits). The run's slot claim, committed just before, must be in
        # the WAL when the crash comes, as it is once the WAL writer has run.
        conn = psycopg2.connect(with_database(base, "postgres"))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("checkpoint")
        finally:
            conn.close()
        _kill_postgres(server)
        # the writer exits once Dagster gives up reconnecting to its storage; one that hangs instead
        # is killed below, like a crashed one: either way its run is left STARTED
        with contextlib.suppress(subprocess.TimeoutExpired):
            writer.wait(timeout=PROCESS_EXIT_TIMEOUT)
    finally:
        kill_hard(writer)

    server.ensure_running()  # crash recovery
    instance = dg.DagsterInstance.get()
    try:
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.STARTED
        assert set(slot_holders(instance)) == {run_id}

        out = io.StringIO()
        Demo(Settings.from_env(), Console(file=out, width=200), scale="tiny", drift=False, seed=1).recover()
        assert f"run {run_id} (writing_job) was left STARTED" in out.getvalue()
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
        assert slot_holders(instance) == {}

        said: list[str] = []
        assert execute_guarded(quick_job, instance=instance, say=said.append).success
        assert said == []
        assert not instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert slot_holders(instance) == {}
    finally:
        instance.dispose()
