"""Real processes for the crash tests: start one, wait until it reports ready, kill it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from storeml_assets_tests.conftest import PROJECT_ROOT

#: Generous bound on a helper process getting ready (it imports Dagster on a loaded machine).
READY_TIMEOUT = 180.0


def start(module: str, *args: str, env: dict[str, str] | None = None, log: Path) -> subprocess.Popen[bytes]:
    """``python -m <module> args...`` from the project root, its output in ``log``."""
    out = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=PROJECT_ROOT,
        env=dict(os.environ if env is None else env),
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def wait_ready(process: subprocess.Popen[bytes], marker: Path, log: Path) -> None:
    """Until ``marker`` exists; fail with the process's output if it exits or takes too long."""
    deadline = time.monotonic() + READY_TIMEOUT
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(f"helper exited with {process.returncode} before it was ready:\n{log.read_text()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"helper not ready after {READY_TIMEOUT:.0f}s:\n{log.read_text()}")
        time.sleep(0.2)


def kill_hard(process: subprocess.Popen[bytes]) -> None:
    """``kill -9`` and reap."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


def wait_for_output(process: subprocess.Popen[bytes], log: Path, text: str) -> str:
    """Until ``text`` shows in ``log``; fail with the output if the process exits or takes too long."""
    deadline = time.monotonic() + READY_TIMEOUT
    while text not in (output := log.read_text()):
        if process.poll() is not None:
            raise AssertionError(f"helper exited with {process.returncode} before printing {text!r}:\n{output}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"helper did not print {text!r} within {READY_TIMEOUT:.0f}s:\n{output}")
        time.sleep(0.2)
    return output
