"""Shared terminal output for the CLI: one rich console, and one-line errors."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from storeml_assets.db.urls import redact

console = Console()
err_console = Console(stderr=True)


def print_error(message: str) -> None:
    """Print one redacted error line to stderr."""
    err_console.print(f"[bold red]error:[/] {redact(message)}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Inside a command: print one redacted error line and exit with ``code``."""
    print_error(message)
    raise typer.Exit(code)
