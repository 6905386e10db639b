"""Run the real `storeml` entry point (``main``) in this process or in a subprocess, capturing its output."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

#: Variables that point storeml somewhere; each invocation starts without them.
_STOREML_PREFIXES = ("STOREML_", "DAGSTER_HOME")


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` without any storeml/Dagster variable except ``values``; restored afterwards."""
    saved = dict(os.environ)
    try:
        for name in list(os.environ):
            if name.startswith(_STOREML_PREFIXES):
                del os.environ[name]
        os.environ.update(values)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_in_process(args: list[str], env: Mapping[str, str]) -> Outcome:
    """``storeml <args>`` through ``storeml_assets.cli.main`` with ``env`` as the storeml environment."""
    from storeml_assets.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    argv = sys.argv
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        with environment(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            sys.argv = ["storeml", *args]
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
        for handler in root.handlers[:]:
            if handler not in before:  # the log handler this invocation installed
                root.removeHandler(handler)
                handler.close()
    return Outcome(code, out.getvalue(), err.getvalue())


def run_subprocess(args: list[str], env: Mapping[str, str], *, cwd: Path | None = None,
                   timeout: float = 300) -> Outcome:
    """``storeml <args>`` as its own process (the installed console script), ``env`` as its storeml environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(_STOREML_PREFIXES)}
    storeml = Path(sys.executable).with_name("storeml")
    result = subprocess.run(
        [str(storeml), *args], env={**base, "COLUMNS": "80", **env}, cwd=cwd, capture_output=True, text=True,
        timeout=timeout,
    )
    return Outcome(result.returncode, result.stdout, result.stderr)
