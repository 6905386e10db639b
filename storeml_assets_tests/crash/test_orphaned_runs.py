"""Runs left STARTED by a killed process: the next storeml start fails them and frees their pool slots.

Real processes execute real runs on a Dagster instance made from the repository's dagster.yaml with
its storage in a fresh Postgres database; each holds one of the two ``postgres_heavy_write`` slots
and is killed with SIGKILL, as a crash (or Postgres killed under the run) leaves them.
"""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.launcher import WorkerStatus
from rich.console import Console

from storeml_assets.demo import Demo
from storeml_assets.recovery import PID_TAG, process_tags, slot_holders
from storeml_assets.run_guard import SlotWaitTimeout, execute_guarded
from storeml_assets.run_launcher import LocalRunLauncher
from storeml_assets.settings import Settings
from storeml_assets_tests.crash.helpers import kill_hard, start, wait_for_output, wait_ready
from storeml_assets_tests.crash.runner import POOL, quick_job

RUNNER = "storeml_assets_tests.crash.runner"


def _hold_slots(tmp_path: Path, count: int) -> list[tuple[subprocess.Popen[bytes], str]]:
    """``count`` processes, each running a run whose step holds a pool slot; (process, run id) each."""
    home = str(tmp_path / "home")
    holders: list[tuple[subprocess.Popen[bytes], str]] = []
    try:
        # one after the other: two first claims at once race on initializing the pool's limit
        for n in range(count):
            ready, log = tmp_path / f"ready-{n}", tmp_path / f"holder-{n}.log"
            process = start(RUNNER, "hold", home, str(ready), log=log)
            holders.append((process, ""))
            wait_ready(process, ready, log)
            holders[-1] = (process, ready.read_text())
    except BaseException:
        for process, _ in holders:
            kill_hard(process)
        raise
    return holders


def test_runs_of_killed_processes_are_failed_and_their_slots_freed_on_the_next_start(
    project_instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    instance = project_instance
    holders = _hold_slots(tmp_path, 2)
    for process, _ in holders:
        kill_hard(process)
    dead = {run_id: process.pid for process, run_id in holders}
    for run_id, pid in dead.items():
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.STARTED
        assert run.tags[PID_TAG] == str(pid)
    assert set(slot_holders(instance)) == set(dead)

    # Both slots are held by dead runs: a new run says so and gives up instead of spinning forever.
    said: list[str] = []
    with pytest.raises(SlotWaitTimeout) as timeout:
        execute_guarded(quick_job, instance=instance, slot_wait_seconds=1.0, say=said.append)
    assert len(said) == 1 and f"is waiting for a '{POOL}' slot" in said[0]
    for run_id, pid in dead.items():
        assert f"run {run_id} (holding_job, STARTED, pid {pid} gone)" in str(timeout.value)
    waiting_run = re.search(r"\(run ([0-9a-f-]+)\)", str(timeout.value))
    assert waiting_run is not None
    given_up = instance.get_run_by_id(waiting_run.group(1))
    assert given_up is not None and given_up.status == dg.DagsterRunStatus.FAILURE
    assert set(slot_holders(instance)) == set(dead)

    # The next storeml start (the demo's first stage) recovers them.
    out = io.StringIO()
    demo = Demo(Settings.from_env(), Console(file=out, width=200), scale="tiny", drift=False, seed=1)
    demo.recover()
    for run_id, pid in dead.items():
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
        assert f"run {run_id} (holding_job) was left STARTED by pid {pid}, which is gone: marked FAILURE" in out.getvalue()
    assert slot_holders(instance) == {}
    assert not instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))

    # ... and the next run gets a slot at once and completes.
    said.clear()
    result = execute_guarded(quick_job, instance=instance, slot_wait_seconds=60.0, say=said.append)
    assert result.success and said == []
    assert slot_holders(instance) == {}

    # A second recovery finds nothing left to do.
    assert demo.recover() is None
    assert out.getvalue().count("marked FAILURE") == 2


def test_live_runs_are_left_alone(project_instance: dg.DagsterInstance, tmp_path: Path) -> None:
    instance = project_instance
    ((process, run_id),) = _hold_slots(tmp_path, 1)
    try:
        out = io.StringIO()
        Demo(Settings.from_env(), Console(file=out), scale="tiny", drift=False, seed=1).recover()
        assert out.getvalue() == ""
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.STARTED
        assert set(slot_holders(instance)) == {run_id}
    finally:
        kill_hard(process)


def test_ctrl_c_stops_a_command_waiting_for_a_slot(project_instance: dg.DagsterInstance, tmp_path: Path) -> None:
    instance = project_instance
    holders = _hold_slots(tmp_path, 2)
    try:
        log = tmp_path / "guarded.log"
        waiting = start(RUNNER, "guarded", str(tmp_path / "home"), log=log)
        try:
            wait_for_output(waiting, log, "is waiting for")
            waiting.send_signal(signal.SIGINT)
            # Dagster's in-process executor ignores SIGINT while it spins on a slot; the guard does not
            assert waiting.wait(timeout=120) == 130
        finally:
            kill_hard(waiting)
        output = log.read_text()
        match = re.search(r"quick_job \(run ([0-9a-f-]+)\) interrupted: run canceled", output)
        assert match, output
        run = instance.get_run_by_id(match.group(1))
        assert run is not None and run.status == dg.DagsterRunStatus.CANCELED
        assert set(slot_holders(instance)) == {run_id for _, run_id in holders}
    finally:
        for process, _ in holders:
            kill_hard(process)


def test_run_monitoring_can_tell_a_dead_worker(project_instance: dg.DagsterInstance, tmp_path: Path) -> None:
    """The daemon's run monitoring fails a STARTED run only when the launcher reports its worker dead."""
    instance = project_instance
    launcher = instance.run_launcher
    assert isinstance(launcher, LocalRunLauncher) and launcher.supports_check_run_worker_health
    (live, live_run), (doomed, doomed_run) = _hold_slots(tmp_path, 2)
    try:
        kill_hard(doomed)
        dead = instance.get_run_by_id(doomed_run)
        alive = instance.get_run_by_id(live_run)
        assert dead is not None and alive is not None
        verdict = launcher.check_run_worker_health(dead)
        assert verdict.status == WorkerStatus.FAILED
        assert f"pid {doomed.pid}" in (verdict.msg or "")
        assert launcher.check_run_worker_health(alive).status == WorkerStatus.RUNNING
    finally:
        kill_hard(live)
        kill_hard(doomed)


def test_a_run_left_not_started_by_a_killed_process_is_failed(project_instance: dg.DagsterInstance, tmp_path: Path) -> None:
    """A process killed while Dagster was still creating its run leaves the run NOT_STARTED."""
    instance = project_instance
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=60)
    home = tmp_path / "home"
    run = instance.create_run_for_job(job_def=quick_job, tags=process_tags(home, pid=gone.pid))
    assert run.status == dg.DagsterRunStatus.NOT_STARTED
    out = io.StringIO()
    Demo(Settings.from_env(), Console(file=out, width=200), scale="tiny", drift=False, seed=1).recover()
    assert f"run {run.run_id} (quick_job) was left NOT_STARTED by pid {gone.pid}" in out.getvalue()
    after = instance.get_run_by_id(run.run_id)
    assert after is not None and after.status == dg.DagsterRunStatus.FAILURE
