"""The run launcher of ``storeml dev``: Dagster's default one, plus a worker health check.

Dagster's run monitoring fails a STARTED run whose worker died only when the run launcher can
check the worker's health, which the default launcher cannot: a run whose process was killed
stayed STARTED forever, holding its concurrency-pool slots. On one machine (``storeml dev``: the
daemon, the code server and every run worker share the host) the check is simple: is the process
that executes the run still alive? Its pid comes from the run's ``storeml/pid`` tags (runs
executed inside a storeml command, e.g. the demo) or from the run worker's "Started process for
run" event (runs launched by the daemon or the UI). Runs whose worker runs elsewhere, or has not
reported its pid yet, count as running. The daemon then marks the dead ones FAILURE, and frees
their slots after ``free_slots_after_run_end_seconds``.
"""

from __future__ import annotations

import socket

import dagster as dg
import psutil
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus

from storeml_assets.recovery import HOST_TAG, PID_TAG, process_alive, worker_state

#: The run worker's own engine event naming its pid (dagster's run-worker entry points).
STARTED_PROCESS_EVENT = "Started process for run"


def run_worker_pid(instance: dg.DagsterInstance, run: dg.DagsterRun) -> tuple[int, float] | None:
    """(pid, time it reported) of the run worker that started ``run``, from its engine events."""
    for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        message = (event.message if event is not None else None) or entry.user_message or ""
        if event is None or not message.startswith(STARTED_PROCESS_EVENT):
            continue
        data = event.engine_event_data
        pid = data.metadata.get("pid") if data is not None else None
        if pid is not None and str(pid.value).isdigit():
            return int(str(pid.value)), entry.timestamp
    return None


def worker_status(instance: dg.DagsterInstance, run: dg.DagsterRun) -> tuple[WorkerStatus, str]:
    """Whether ``run``'s worker process is alive on this host, with the reason."""
    if PID_TAG in run.tags:
        state = worker_state(run.tags)
        tagged, host = run.tags[PID_TAG], run.tags.get(HOST_TAG)
        if state == "dead":
            return WorkerStatus.FAILED, f"the process that executed this run (pid {tagged} on {host}) is gone"
        return WorkerStatus.RUNNING, f"executed by pid {tagged} on {host} ({state})"
    started = run_worker_pid(instance, run)
    if started is None:
        return WorkerStatus.RUNNING, "the run worker has not reported its pid yet"
    pid, reported_at = started
    # the worker reported its pid after it started; a process with that pid created later is another one
    if not process_alive(pid, None) or _created_after(pid, reported_at):
        return WorkerStatus.FAILED, f"the run worker (pid {pid} on {socket.gethostname()}) is gone"
    return WorkerStatus.RUNNING, f"run worker pid {pid} is alive"


def _created_after(pid: int, reported_at: float) -> bool:
    try:
        return psutil.Process(pid).create_time() > reported_at + 1.0
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return True
    except psutil.AccessDenied:
        return False


class LocalRunLauncher(dg.DefaultRunLauncher):
    """Dagster's default run launcher whose run workers' health run monitoring can check (one host)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        status, message = worker_status(self._instance, run)
        return CheckRunHealthResult(status, message)
