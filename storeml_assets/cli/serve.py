"""`storeml serve`: the prediction and analytics API (FastAPI on uvicorn) that follows each champion."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator

import typer

from storeml_assets.console import console, fail

log = logging.getLogger("storeml.serving")

#: How long uvicorn's supervisor waits for a worker to answer its ping before replacing it. A spawned
#: worker answers only once it has imported the command line (seconds on a busy machine); uvicorn's
#: default of 5 s kills slow starters in a loop.
WORKER_HEALTHCHECK_SECONDS = 60


def register(app: typer.Typer) -> None:
    """Add ``storeml serve`` to the command line."""

    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 in a container)."),
        port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
        workers: int = typer.Option(1, min=1, max=64, help="Worker processes (each follows the champions)."),
        access_log: bool = typer.Option(False, "--access-log/--no-access-log", help="Log every request line."),
        prediction_log: bool = typer.Option(True, "--prediction-log/--no-prediction-log",
                                            help="Log predictions to mlops.predictions (off: only to measure its cost)."),
    ) -> None:
        """Serve predictions of every family's champion, products, top products and bundle rules."""
        import uvicorn

        from storeml_assets.db.locator import DatabaseUnreachableError
        from storeml_assets.db.migrate import MigrationError, migrate
        from storeml_assets.db.urls import first_line
        from storeml_assets.serving.config import ServeConfig

        try:
            config = ServeConfig.from_settings(start_embedded=True)
        except Exception as exc:  # the database may be down: serve the cached champions meanwhile
            console.print(f"[yellow]database not reachable at start ({first_line(exc)}); serving from the cache[/]",
                          highlight=False)
            config = ServeConfig.from_settings(start_embedded=False)
        else:
            try:
                migrate(databases=["storeml"])
            except (DatabaseUnreachableError, MigrationError) as exc:
                console.print(f"[yellow]storeml database not migrated ({first_line(exc)})[/]", highlight=False)
        if not prediction_log:
            if workers > 1:
                fail("--no-prediction-log works with one worker only", code=2)
            config = dataclasses.replace(config, log_predictions=False)
        if config.token is None and host not in {"127.0.0.1", "localhost", "::1"}:
            console.print("[yellow]STOREML_SERVE_TOKEN is not set: the predict paths are open[/]")
        console.print(f"[bold]storeml serve[/] on http://{host}:{port} ({workers} worker{'s' if workers > 1 else ''})",
                      highlight=False)
        try:
            if workers == 1:
                from storeml_assets.serving.app import create_app

                uvicorn.run(create_app(config), host=host, port=port, access_log=access_log, log_level="info")
            else:
                with _shared_metrics_dir():
                    uvicorn.run("storeml_assets.serving.app:create_app", factory=True, host=host, port=port,
                                workers=workers, access_log=access_log, log_level="info",
                                timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS)
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc.strerror}")


@contextlib.contextmanager
def _shared_metrics_dir() -> Iterator[None]:
    """Workers share their Prometheus metrics through files (prometheus_client's multiprocess mode): in
    ``PROMETHEUS_MULTIPROC_DIR`` when the deployment sets it (it must be empty at start), else in a
    temporary folder removed when the server stops. The workers inherit the variable."""
    from storeml_assets.serving.metrics import MULTIPROC_DIR_ENV

    if os.environ.get(MULTIPROC_DIR_ENV):
        yield
        return
    folder = tempfile.mkdtemp(prefix="storeml-serve-metrics-")
    os.environ[MULTIPROC_DIR_ENV] = folder
    try:
        yield
    finally:
        del os.environ[MULTIPROC_DIR_ENV]
        shutil.rmtree(folder, ignore_errors=True)
