"""Execute a job in this process under a guard: slot waits are announced and bounded, Ctrl-C stops it.

Dagster's in-process executor, when a step waits for a concurrency-pool slot, spins in its plan
loop without a message, without a bound and without looking at the interrupts it captured, so
Ctrl-C and SIGTERM are ignored for as long as the slot is held. :func:`execute_guarded` runs the job
in a worker thread (where Dagster leaves the process's signal handlers alone) and watches it from
the main thread:

* a step of the run waiting for a pool slot is announced once, naming the runs that hold the
  pool, and the wait is bounded (``slot_wait_seconds``): past it the run is marked FAILURE, its
  claims are freed and :class:`SlotWaitTimeout` names the holders;
* Ctrl-C (SIGINT) or SIGTERM marks the run CANCELED, frees its slots and raises
  :class:`RunInterrupted`.

The run executes like ``job.execute_in_process`` but without keeping each step's output value in
memory until the run ends (:func:`execute_uncaptured`): storeml reads outputs back through the IO
manager, never from the result, and a ranged events run would otherwise hold every table it wrote.

Either way the worker is stopped the way Dagster stops a run on an interrupt: a
``DagsterExecutionInterruptedError`` raised in its thread, which unwinds the run (Dagster records
the cancellation; an open write transaction is rolled back). A worker stuck in a database call that
does not return within ``STOP_GRACE_SECONDS`` is left behind; it dies with the process.
"""

from __future__ import annotations

import ctypes
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import FrameType
from typing import Any

import dagster as dg

from storeml_assets.db.urls import first_line
from storeml_assets.recovery import PID_TAG, slot_holders, worker_state

POLL_SECONDS = 0.5
#: How often the pools are looked at while a run executes.
SLOT_POLL_SECONDS = 2.0
#: How long a stopped run's worker thread gets to unwind.
STOP_GRACE_SECONDS = 10.0


class SlotWaitTimeout(RuntimeError):
    """A step waited longer than allowed for a concurrency-pool slot; the message names the holders."""


class RunInterrupted(RuntimeError):
    """The command was interrupted (Ctrl-C or SIGTERM) while a run executed; the run is canceled."""


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt in the main thread, like Ctrl-C, for the duration."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(_signo: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous_term = signal.signal(signal.SIGTERM, _raise)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)


def describe_holders(instance: dg.DagsterInstance, pool: str, exclude: str) -> str:
    """``run <id> (<job>, pid N alive|gone)`` for each run holding a slot of ``pool``."""
    parts = []
    for run_id, claims in sorted(slot_holders(instance).items()):
        if run_id == exclude or not any(p == pool for p, _ in claims):
            continue
        run = instance.get_run_by_id(run_id)
        if run is None:
            parts.append(f"run {run_id} (deleted)")
            continue
        state = worker_state(run.tags)
        pid = run.tags.get(PID_TAG)
        who = f", pid {pid} {'gone' if state == 'dead' else state}" if pid else ""
        parts.append(f"run {run_id} ({run.job_name}, {run.status.value}{who})")
    return ", ".join(parts) or "no run (the pool's limit may be 0)"


def waiting_claims(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """(pool, step key) of each step of ``run_id`` queued for a slot it does not have yet."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    waiting = []
    for pool in sorted(storage.get_concurrency_keys()):
        for step in storage.get_concurrency_info(pool).pending_steps:
            if step.run_id == run_id and step.assigned_timestamp is None:
                waiting.append((pool, step.step_key))
    return waiting


def _stop_run(
    instance: dg.DagsterInstance, worker: threading.Thread, run_id: str, message: str, *, canceled: bool
) -> None:
    """Mark the run CANCELING (or FAILURE), interrupt its worker thread, then make sure it ended and free its slots."""
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished:
        if canceled:
            instance.report_run_canceling(run, message)
        else:
            instance.report_run_failed(run, message)
    if worker.is_alive() and worker.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(worker.ident), ctypes.py_object(dg.DagsterExecutionInterruptedError)
        )
        worker.join(STOP_GRACE_SECONDS)
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished:
        if canceled:
            instance.report_run_canceled(run, message)
        else:
            instance.report_run_failed(run, message)
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)


def execute_uncaptured(
    job: dg.JobDefinition,
    *,
    instance: dg.DagsterInstance,
    run_config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    run_id: str | None = None,
    raise_on_error: bool = False,
) -> dg.ExecuteInProcessResult:
    """``job.execute_in_process(...)`` (the whole job, no partition key or selection) without output capture.

    Dagster's ``execute_in_process`` keeps every step output's value in a dict for ``output_for_node``
    until the run ends, so a run over half a year of events held each raw table and fact it had already
    written (7.1 GB at ``large``). This is the same call chain with capturing off: outputs are freed once
    the IO manager has stored them. The result's events, status and run id are the same;
    ``output_for_node`` is not available (nothing in storeml uses it).
    """
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.execute_in_process import (
        core_execute_in_process,
        merge_run_tags,
        type_check_and_normalize_args,
    )

    config, _, _, resource_defs, _, input_values = type_check_and_normalize_args(
        run_config=run_config, partition_key=None, op_selection=None, asset_selection=None,
        input_values=None, resources=None,
    )
    ephemeral = job.as_ephemeral_job(resource_defs=resource_defs, input_values=input_values)
    return core_execute_in_process(
        job=InMemoryJob(job_def=ephemeral),
        run_config=config,
        instance=instance,
        output_capturing_enabled=False,
        raise_on_error=raise_on_error,
        run_tags=merge_run_tags(job_def=job, partition_key=None, tags=tags, asset_selection=None,
                                instance=instance, run_config=config),
        run_id=run_id,
        asset_selection=frozenset(),
    )


def execute_guarded(
    job: dg.JobDefinition,
    *,
    instance: dg.DagsterInstance,
    run_config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    slot_wait_seconds: float = 900.0,
    say: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
) -> dg.ExecuteInProcessResult:
    """``job.execute_in_process`` (without output capture: :func:`execute_uncaptured`) with announced, bounded
    slot waits and prompt interrupts."""
    run_id = str(uuid.uuid4())
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = execute_uncaptured(
                job, instance=instance, run_config=run_config, tags=dict(tags or {}), run_id=run_id, raise_on_error=False
            )
        except BaseException as exc:  # handed to the main thread, which re-raises it
            outcome["error"] = exc

    worker = threading.Thread(target=work, name=f"storeml-run-{job.name}", daemon=True)
    waiting_since: float | None = None
    announced = poll_failed = False
    next_poll = clock()
    with sigterm_as_interrupt():
        try:
            worker.start()
            while worker.is_alive():
                worker.join(POLL_SECONDS)
                if not worker.is_alive() or clock() < next_poll:
                    continue
                next_poll = clock() + SLOT_POLL_SECONDS
                try:
                    waiting = waiting_claims(instance, run_id)
                except Exception as exc:  # the run itself reports what the database did to it
                    if not poll_failed:
                        say(f"{job.name}: cannot read the concurrency pools ({first_line(exc)}); still waiting for the run")
                        poll_failed = True
                    continue
                if not waiting:
                    waiting_since, announced = None, False
                    continue
                pool, step = waiting[0]
                if waiting_since is None:
                    waiting_since = clock()
                if not announced:
                    say(
                        f"{job.name}: step {step} is waiting for a {pool!r} slot, held by "
                        f"{describe_holders(instance, pool, run_id)} (gives up after {slot_wait_seconds:.0f}s)"
                    )
                    announced = True
                if clock() - waiting_since > slot_wait_seconds:
                    holders = describe_holders(instance, pool, run_id)
                    message = (
                        f"{job.name} (run {run_id}): step {step} waited more than {slot_wait_seconds:.0f}s "
                        f"for a {pool!r} slot held by {holders}"
                    )
                    _stop_run(instance, worker, run_id, message, canceled=False)
                    raise SlotWaitTimeout(message)
        except KeyboardInterrupt:
            message = "Interrupted (Ctrl-C or SIGTERM) while the run executed."
            _stop_run(instance, worker, run_id, message, canceled=True)
            raise RunInterrupted(f"{job.name} (run {run_id}) interrupted: run canceled") from None
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
