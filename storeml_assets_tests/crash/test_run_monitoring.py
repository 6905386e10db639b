"""`storeml dev`'s daemon fails runs whose process died and frees their pool slots, on its own.

`dagster dev` runs on an instance made from the repository's dagster.yaml (storage in a fresh
Postgres database) serving the crash-test jobs. Two runs hold the two ``postgres_heavy_write``
slots: one executed inside a separate process (as `storeml demo` does), one launched through the
UI's API (a run worker of the code server). Both processes are killed with SIGKILL; run monitoring
marks both runs FAILURE and the slots are freed ``free_slots_after_run_end_seconds`` later.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from storeml_assets.recovery import slot_holders
from storeml_assets.run_launcher import run_worker_pid
from storeml_assets_tests.crash.helpers import kill_hard, start, wait_ready
from storeml_assets_tests.ui.server import DevServer, dev_home, free_port, running_webserver

LOCATION = "crash_runner"
#: Run monitoring polls every 30 s and frees slots 60 s after a run ends; allow for a loaded machine.
DAEMON_TIMEOUT = 420.0


@pytest.fixture
def dev(tmp_path: Path, fresh_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[DevServer]:
    home, workspace = dev_home(tmp_path, "storeml_assets_tests.crash.runner", LOCATION)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("STOREML_DAGSTER_DB_URL", fresh_db)
    env = dict(os.environ)
    host, port = "127.0.0.1", free_port()
    dagster = str(Path(sys.executable).with_name("dagster"))
    args = [dagster, "dev", "-w", str(workspace), "-h", host, "-p", str(port)]
    with running_webserver(args, env, tmp_path / "dagster-dev.log", LOCATION, host, port) as server:
        yield server


def _until(what: str, done, server: DevServer) -> None:
    deadline = time.monotonic() + DAEMON_TIMEOUT
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {DAEMON_TIMEOUT:.0f}s:\n{server.log_tail()}")
        time.sleep(2.0)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_the_daemon_fails_runs_whose_process_died_and_frees_their_slots(dev: DevServer, tmp_path: Path) -> None:
    instance = dg.DagsterInstance.get()
    try:
        # a run executed inside another process, as the demo does
        ready, log = tmp_path / "ready-in-process", tmp_path / "in-process.log"
        holder = start("storeml_assets_tests.crash.runner", "hold", str(tmp_path / "home"), str(ready), log=log)
        try:
            wait_ready(holder, ready, log)
        finally:
            kill_hard(holder)
        in_process_run = ready.read_text()

        # a run launched through the UI's API: a run worker of the code server, its step in a subprocess
        launched_ready = tmp_path / "ready-launched"
        launched_run = dev.client().submit_job_execution(
            "holding_job",
            LOCATION,
            run_config={"ops": {"hold_slot": {"config": {"ready": str(launched_ready)}}}},
            tags={"dagster/max_retries": "0"},
        )
        _until("the launched run's step to start", launched_ready.exists, dev)
        run = instance.get_run_by_id(launched_run)
        assert run is not None
        worker = run_worker_pid(instance, run)
        assert worker is not None
        _kill(worker[0])
        _kill(int(Path(str(launched_ready) + ".pid").read_text()))

        assert set(slot_holders(instance)) == {in_process_run, launched_run}

        def failed() -> bool:
            runs = [instance.get_run_by_id(r) for r in (in_process_run, launched_run)]
            return all(r is not None and r.status == dg.DagsterRunStatus.FAILURE for r in runs)

        _until("run monitoring failing both runs", failed, dev)
        _until("the slots of both runs being freed", lambda: slot_holders(instance) == {}, dev)
    finally:
        instance.dispose()
