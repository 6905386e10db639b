"""Shared terminal output for the CLI: one rich console, one-line errors, and where library logs go.

What a person reads on the terminal is storeml's own output. Library logging (MLflow, alembic,
Dagster's Python loggers, ...) goes to ``$STOREML_HOME/logs/storeml.log``, passwords redacted;
``storeml --verbose ...`` streams it to stderr instead.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from storeml_assets.db.urls import redact

console = Console()
err_console = Console(stderr=True)

LOG_FILE_NAME = "storeml.log"
#: Loggers that libraries give their own stderr handlers; storeml routes them through the root logger.
_LIBRARY_LOGGERS = ("mlflow", "alembic", "huey", "sqlalchemy.engine")
_MARK = "_storeml_handler"


def print_error(message: str) -> None:
    """Print one redacted error line to stderr."""
    err_console.print(f"[bold red]error:[/] {redact(message)}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Inside a command: print one redacted error line and exit with ``code``."""
    print_error(message)
    raise typer.Exit(code)


class RedactingFormatter(logging.Formatter):
    """A formatter whose every line (message and traceback) has passwords redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _LoggerStream:
    """A write-only stream that turns printed lines into log records (for libraries that print)."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                self.logger.info(line)
        return len(text)

    def flush(self) -> None:
        pass


def configure_logging(log_dir: Path, *, verbose: bool) -> Path | None:
    """Send Python logging to ``log_dir/storeml.log`` (or stderr when ``verbose``); return the file.

    Idempotent: a second call replaces the handler the first one installed.
    """
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _MARK, False):
            root.removeHandler(old)
            old.close()
    path: Path | None = None
    handler: logging.Handler
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
    else:
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            path = log_dir / LOG_FILE_NAME
            handler = logging.FileHandler(path, encoding="utf-8")
        except OSError:
            # an unwritable data folder is reported by whatever command needs it; warnings still show
            handler = logging.StreamHandler(sys.stderr)
            handler.setLevel(logging.WARNING)
    setattr(handler, _MARK, True)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    route_library_output(verbose=verbose)
    return path


def route_library_output(*, verbose: bool = False) -> None:
    """Make libraries that configured their own stderr output (MLflow) log through the root logger.

    Call again after importing such a library: MLflow installs its handler when imported.
    """
    for name in _LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [h for h in logger.handlers if getattr(h, _MARK, False)]
        logger.propagate = True
        if name == "sqlalchemy.engine":
            logger.setLevel(logging.WARNING)  # statements (with bound values) never reach a log
    # library warnings (MLflow's schema hints, ...) go to the log like the libraries' log lines
    logging.captureWarnings(True)
    mlflow_logging = sys.modules.get("mlflow.utils.logging_utils")
    if mlflow_logging is not None and not verbose:
        # MLflow prints some lines straight to stderr ("Successfully registered model ...")
        mlflow_logging.MLFLOW_LOGGING_STREAM = _LoggerStream(logging.getLogger("mlflow"))  # type: ignore[attr-defined]
