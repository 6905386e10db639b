"""Runs left behind by a dead process: find them, fail them, free their concurrency-pool slots.

A run executed in a storeml process (`storeml demo`, a test, a script) carries tags naming that
process: host, pid and the pid's start time, plus the storeml home it belongs to. When the process
dies mid-run (``kill -9``, a crash, Postgres killed under it), nothing reports the run's end: it stays
STARTED and keeps the pool slots its steps claimed (e.g. one of the two ``postgres_heavy_write``
slots). :func:`recover_orphaned_runs` is called when a storeml command starts: it marks such runs
FAILURE through the instance's public API and frees their slots, and frees the slots still held by
runs that already ended (a run canceled from the UI does not release them itself).

Only the runs this host can judge are touched: a run tagged with another host's pid, or with no
pid at all (launched by the daemon), is left to the daemon's run monitoring.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import psutil

PID_TAG = "storeml/pid"
HOST_TAG = "storeml/host"
PROCESS_STARTED_TAG = "storeml/process_started"
HOME_TAG = "storeml/home"

#: Statuses of a run that has a live worker, or should have one (a process killed while it was
#: still creating its run leaves it NOT_STARTED).
UNFINISHED = (
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)
FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
#: A finished run without a pid tag keeps its slots this long after its end (its step processes may
#: still be winding down), as the daemon's ``free_slots_after_run_end_seconds`` does.
FINISHED_RUN_GRACE_SECONDS = 300.0


def _process_start(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def process_tags(home: Path, pid: int | None = None) -> dict[str, str]:
    """Tags naming the process that executes a run (this one by default) and the storeml home."""
    pid = os.getpid() if pid is None else pid
    started = _process_start(pid)
    return {
        PID_TAG: str(pid),
        HOST_TAG: socket.gethostname(),
        PROCESS_STARTED_TAG: f"{started:.2f}" if started is not None else "",
        HOME_TAG: str(home),
    }


def process_alive(pid: int, started: str | None) -> bool:
    """Whether ``pid`` is a live process on this host, and the same one (not a reused pid)."""
    if not psutil.pid_exists(pid):
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        created = process.create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True
    if not started:
        return True
    try:
        return abs(created - float(started)) < 1.0
    except ValueError:
        return True


def worker_state(tags: Mapping[str, str]) -> str:
    """``alive``, ``dead`` or ``unknown`` (no pid, or another host) for a run's tags."""
    pid = tags.get(PID_TAG, "")
    if not pid.isdigit() or tags.get(HOST_TAG) != socket.gethostname():
        return "unknown"
    return "alive" if process_alive(int(pid), tags.get(PROCESS_STARTED_TAG)) else "dead"


@dataclass
class RecoveryReport:
    #: (run id, job name, pid, status it was left in) of each run marked FAILURE
    failed_runs: list[tuple[str, str, str, str]] = field(default_factory=list)
    #: run ids whose pool slots (claimed or pending) were freed
    freed_slot_runs: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"run {run_id} ({job}) was left {status} by pid {pid}, which is gone: marked FAILURE"
            for run_id, job, pid, status in self.failed_runs
        ]
        out += [f"freed the concurrency-pool slots held by run {run_id}" for run_id in self.freed_slot_runs]
        return out


def slot_holders(instance: dg.DagsterInstance) -> dict[str, list[tuple[str, str]]]:
    """Run id -> [(pool, step key)] of every claimed slot or queued claim, over every pool."""
    storage = instance.event_log_storage
    holders: dict[str, list[tuple[str, str]]] = {}
    if not storage.supports_global_concurrency_limits:
        return holders
    for pool in sorted(storage.get_concurrency_keys()):
        info = storage.get_concurrency_info(pool)
        for slot in info.claimed_slots:
            holders.setdefault(slot.run_id, []).append((pool, slot.step_key))
        for step in info.pending_steps:
            holders.setdefault(step.run_id, []).append((pool, step.step_key))
    return holders


def recover_orphaned_runs(
    instance: dg.DagsterInstance,
    home: Path,
    *,
    by: str = "storeml",
    now: Callable[[], float] = time.time,
) -> RecoveryReport:
    """Fail this home's unfinished runs whose process is gone, and free slots nobody can release."""
    report = RecoveryReport()
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=list(UNFINISHED), tags={HOME_TAG: str(home)})
    )
    for record in records:
        run = record.dagster_run
        if worker_state(run.tags) != "dead":
            continue
        pid = run.tags.get(PID_TAG, "?")
        instance.report_run_failed(
            run,
            f"The process that executed this run (pid {pid} on {run.tags.get(HOST_TAG)}) is gone; "
            f"marked failed by {by} on start.",
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        report.failed_runs.append((run.run_id, run.job_name, pid, run.status.value))
        report.freed_slot_runs.append(run.run_id)

    for run_id in sorted(slot_holders(instance)):
        if run_id in report.freed_slot_runs:
            continue
        holder = instance.get_run_record_by_id(run_id)
        if holder is None:
            stale = True  # the run was deleted: nobody will ever release its slots
        elif holder.dagster_run.status in FINISHED:
            ended = holder.end_time or holder.update_timestamp.timestamp()
            stale = worker_state(holder.dagster_run.tags) == "dead" or now() - ended > FINISHED_RUN_GRACE_SECONDS
        else:
            stale = False
        if stale:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
            report.freed_slot_runs.append(run_id)
    return report
