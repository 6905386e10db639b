"""The models stage's worker processes: model families trained side by side.

A family's retraining job spends most of its time in one core's worth of Python and numpy, so on a
machine with more than one core the models stage trains several families at once: the command's own
process trains one family at a time, and ``STOREML_MODEL_PROCESSES - 1`` worker processes train others.
A family waits for the families (registered before it) whose jobs write an asset its job reads —
customer segmentation reads the customer features purchase propensity's job builds; the others go in
registration order, each to whichever process is free first.

Workers are new Python processes, never forks (the command's process holds database connections and
threads), started when the run starts, so they import the code location while the data stages run; the
command talks to each over a socket pair (``multiprocessing.connection``). Each has its own
Dagster instance and tags its runs with its own pid, so recovery treats them like the command's runs.
Stopping:

* Ctrl-C reaches every process of the terminal's process group; each cancels its own run;
* SIGTERM to the command cancels its run (or interrupts its wait) and it then sends SIGTERM to the
  workers, which cancel theirs (a worker treats SIGTERM during a run as Ctrl-C, see ``run_guard``);
* a command that dies outright takes its workers with it: they get SIGTERM from the kernel
  (``PR_SET_PDEATHSIG``) and cancel their runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the runner imports this module
    import dagster as dg

    from storeml_assets.runner import FamilyOutcome

#: How long a worker that was told to stop gets before it is terminated, in seconds.
STOP_SECONDS = 15.0
#: ``prctl`` option: the signal the kernel sends this process when its parent dies.
PR_SET_PDEATHSIG = 1


@dataclass
class FamilyResult:
    """What a worker sends back for one family: its outcome and the runs it executed."""

    family: str
    outcome: FamilyOutcome | None
    runs: list[tuple[str, str, bool]] = field(default_factory=list)
    rows_by_run: dict[str, int] = field(default_factory=dict)
    failed_checks: list[str] = field(default_factory=list)
    #: The message of a blocking check that failed (the run must stop).
    blocking: str | None = None
    #: The message of an interrupt (the worker was stopped while the family's run executed).
    interrupted: str | None = None


def family_dependencies(defs: dg.Definitions, families: Sequence[Any]) -> dict[str, set[str]]:
    """For each family, the families registered before it whose jobs write an asset its job reads."""
    graph = defs.resolve_asset_graph()
    written: dict[str, set[Any]] = {}
    for family in families:
        job = defs.resolve_job_def(family.job_name)
        written[family.name] = {node.key for node in job.asset_layer.asset_graph.asset_nodes
                                if node.is_executable and node.is_materializable}
    deps: dict[str, set[str]] = {}
    for index, family in enumerate(families):
        reads = set().union(*(graph.get(key).parent_keys for key in written[family.name])) - written[family.name]
        deps[family.name] = {earlier.name for earlier in families[:index] if reads & written[earlier.name]}
    return deps


class Schedule:
    """Which family goes next: the first pending one whose dependencies are done (thread-safe)."""

    def __init__(self, families: Iterable[Any], deps: dict[str, set[str]]) -> None:
        self.pending = list(families)
        self.deps = deps
        self.done: set[str] = set()
        self.stopped = False
        self._cond = threading.Condition()

    def take(self, timeout: float = 0.5) -> Any | None:
        """The next family to train; None when none is left or the schedule was stopped.

        Waits (in ``timeout`` steps, so Ctrl-C is seen) while every pending family waits for one in flight.
        """
        with self._cond:
            while not self.stopped and self.pending:
                for family in self.pending:
                    if self.deps.get(family.name, set()) <= self.done:
                        self.pending.remove(family)
                        return family
                self._cond.wait(timeout)
            return None

    def finish(self, name: str) -> None:
        with self._cond:
            self.done.add(name)
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self.stopped = True
            self._cond.notify_all()


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    conn: Connection
    #: Why the worker can take no family (it died); None while it works.
    gone: str | None = None

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait(self, seconds: float) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(max(0.0, seconds))

    def describe(self) -> str:
        return f"worker pid {self.process.pid} exited (code {self.process.returncode})"


class FamilyPool:
    """``workers`` spawned processes that train model families for a runner, beside the runner's own process."""

    def __init__(self, workers: int, *, command: str, log_level: str) -> None:
        if workers < 1:
            raise ValueError(f"a family pool needs at least one worker, got {workers}")
        self.workers: list[_Worker] = []
        for _ in range(workers):
            ours, theirs = socket.socketpair()
            with theirs:
                code = "import sys; from storeml_assets.family_pool import worker_main; worker_main(*sys.argv[1:])"
                process = subprocess.Popen(
                    [sys.executable, "-c", code, str(theirs.fileno()), str(os.getpid()), mp.get_start_method(),
                     command, log_level],
                    pass_fds=(theirs.fileno(),),
                )
            self.workers.append(_Worker(process, Connection(ours.detach())))

    @property
    def processes(self) -> int:
        """Processes that train families: the workers still alive and the runner's own."""
        return 1 + sum(1 for worker in self.workers if worker.gone is None)

    def train(
        self,
        families: Sequence[Any],
        deps: dict[str, set[str]],
        *,
        local: Callable[[Any], FamilyOutcome],
        merge: Callable[[FamilyResult], None],
        done: Callable[[FamilyOutcome], None],
    ) -> None:
        """Train ``families`` in this process (``local``) and in the workers.

        ``merge`` records a worker's runs in the runner's report, ``done`` announces an outcome (both are
        called from this process's threads). A blocking check failing anywhere stops handing out families;
        the ones in flight finish, then :class:`~storeml_assets.runner.BlockingCheckFailed` is raised.
        """
        from storeml_assets.run_guard import RunInterrupted, sigterm_as_interrupt
        from storeml_assets.runner import BlockingCheckFailed, FamilyOutcome, family_purpose

        schedule = Schedule(families, deps)
        stops: list[BaseException] = []
        lock = threading.Lock()

        def finished(name: str, outcome: FamilyOutcome) -> None:
            done(outcome)
            schedule.finish(name)

        def serve(worker: _Worker) -> None:
            try:
                serve_families(worker)
            except BaseException as exc:  # raised in this process once the others stop (nothing waits forever)
                with lock:
                    stops.append(exc)
                schedule.stop()

        def serve_families(worker: _Worker) -> None:
            if not self._ready(worker):
                return
            while (family := schedule.take()) is not None:
                try:
                    worker.conn.send(family.name)
                    result: FamilyResult = worker.conn.recv()
                except (EOFError, OSError):
                    worker.wait(1.0)
                    worker.gone = worker.describe()
                    finished(family.name, FamilyOutcome(family.name, family_purpose(family), "failed",
                                                        f"{worker.gone} while training it"))
                    return
                merge(result)
                if result.blocking is not None or result.interrupted is not None:
                    with lock:
                        stops.append(BlockingCheckFailed(result.blocking) if result.blocking is not None
                                     else RunInterrupted(result.interrupted))
                    schedule.stop()
                    return
                assert result.outcome is not None
                finished(family.name, result.outcome)

        threads = [threading.Thread(target=serve, args=(worker,), name=f"storeml-family-worker-{worker.process.pid}",
                                    daemon=True) for worker in self.workers if worker.gone is None]
        with sigterm_as_interrupt():
            try:
                # this process takes the first family (it has the most imported already), then the workers start
                family = schedule.take()
                for thread in threads:
                    thread.start()
                while family is not None:
                    finished(family.name, local(family))
                    family = schedule.take()
                while any(thread.is_alive() for thread in threads):
                    for thread in threads:
                        thread.join(0.5)
            except BlockingCheckFailed:
                schedule.stop()  # the families in flight in the workers finish; no other one starts
                for thread in threads:
                    thread.join()
                raise
            except KeyboardInterrupt:  # SIGTERM or Ctrl-C while this process waited for the workers
                schedule.stop()
                self.terminate()
                raise RunInterrupted("interrupted (Ctrl-C or SIGTERM) while model families trained: "
                                     "every process's run canceled") from None
            except BaseException:  # this process's run was interrupted (or failed outright): stop the workers' runs too
                schedule.stop()
                self.terminate()
                raise
        if stops:
            raise stops[0]

    def _ready(self, worker: _Worker) -> bool:
        """Wait for a worker's start-up (it imports the code location); False when it died instead."""
        try:
            worker.conn.recv()
        except (EOFError, OSError):
            worker.wait(1.0)
            worker.gone = f"{worker.describe()} while starting"
            print(f"storeml: {worker.gone}; its families train in the other processes", file=sys.stderr)
            return False
        return True

    def terminate(self) -> None:
        """SIGTERM to every worker (each cancels the run it executes), then wait for them to end."""
        for worker in self.workers:
            if worker.alive():
                worker.process.terminate()
        self._join()

    def close(self) -> None:
        """Tell idle workers to exit, and wait for them (terminating any that do not)."""
        for worker in self.workers:
            with contextlib.suppress(OSError, ValueError):  # a worker already gone is waited for below
                worker.conn.send(None)
        self._join()
        for worker in self.workers:
            worker.conn.close()

    def _join(self) -> None:
        deadline = time.monotonic() + STOP_SECONDS
        for worker in self.workers:
            worker.wait(deadline - time.monotonic())
        for worker in self.workers:
            if worker.alive():
                worker.process.kill()
                worker.wait(5.0)


def _die_with(parent: int) -> None:
    """Have the kernel send this process SIGTERM when its parent dies (Linux); exit if it already has."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        sys.exit(0)


def worker_main(fd: str, parent: str, start_method: str, command: str, log_level: str) -> None:
    """A worker (``python -c``): build the definitions and instance, say ready on the socket ``fd``, then
    train each family it is sent. ``start_method``: the command's multiprocessing start method, which the
    families' own pools (forecasting's) use here too."""
    _die_with(int(parent))
    mp.set_start_method(start_method, force=True)
    conn = Connection(int(fd))
    # Ctrl-C reaches the whole process group: a run in flight is canceled by its guard (which takes SIGINT
    # while it runs); an idle worker leaves stopping to the command, which closes or terminates it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import mlflow  # noqa: F401 - imported before its output is routed to the log, as the command does
    from rich.console import Console

    from storeml_assets.console import configure_logging, route_library_output
    from storeml_assets.instance import use_project_instance
    from storeml_assets.run_guard import RunInterrupted
    from storeml_assets.runner import (
        BlockingCheckFailed,
        FamilyOutcome,
        Runner,
        RunReport,
        family_purpose,
        registered_families,
    )
    from storeml_assets.settings import get_settings

    settings = get_settings()
    verbose = log_level == "DEBUG"  # the command's --verbose
    configure_logging(settings.home / "logs", verbose=verbose)
    route_library_output(verbose=verbose)
    use_project_instance(settings)
    runner = Runner(settings, Console(stderr=True), log_level=log_level)
    runner.command = command
    runner.defs.resolve_asset_graph()  # build the definitions now, while the command runs its first stages
    families = {family.name: family for family in registered_families()}
    conn.send(("ready", os.getpid()))
    while True:
        try:
            name = conn.recv()
        except (EOFError, OSError):
            return
        if name is None:
            break
        family = families[name]
        runner.report = RunReport()
        result = FamilyResult(name, None)
        try:
            result.outcome = runner.train_family(family)
        except BlockingCheckFailed as exc:
            result.blocking = str(exc)
        except RunInterrupted as exc:
            result.interrupted = str(exc)
        except Exception as exc:  # a bug in the family's code path outside its run: the family failed
            lines = traceback.format_exception_only(exc)
            result.outcome = FamilyOutcome(name, family_purpose(family), "failed", lines[-1].strip())
        result.runs = runner.report.runs
        result.rows_by_run = runner.report.rows_by_run
        result.failed_checks = runner.report.failed_checks
        try:
            conn.send(result)
        except (OSError, ValueError):  # the command is gone
            return
        if result.interrupted is not None:
            break
    # told to stop: close the instance's connections and leave at once (the interpreter's own teardown of
    # the libraries' state takes seconds and has nothing to save)
    if runner.has_instance:
        runner.instance.dispose()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
