"""`storeml dev` (the Dagster UI and daemon) and `storeml mlflow` (the MLflow UI)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import typer

from storeml_assets.console import console, fail
from storeml_assets.instance import project_instance_env
from storeml_assets.settings import get_settings


def _wait_for_first_exit(processes: dict[str, subprocess.Popen[bytes]]) -> int | None:
    """Wait until one process ends (or Ctrl-C), stop the others; the first exit code (None on Ctrl-C)."""
    code: int | None = None
    try:
        while code is None:
            for process in processes.values():
                if process.poll() is not None:
                    code = process.returncode
                    break
            else:
                time.sleep(0.5)
    except KeyboardInterrupt:
        code = None
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    return code


def register(app: typer.Typer) -> None:
    """Add ``storeml dev`` and ``storeml mlflow`` to the command line."""

    @app.command()
    def dev(
        host: str = typer.Option("127.0.0.1", help="Address the Dagster UI binds to."),
        port: int = typer.Option(3000, "--port", "-p", min=1, max=65535, help="Port of the Dagster UI."),
        verbose: bool = typer.Option(False, "--verbose", help="Stream the webserver's and daemon's logs here too."),
    ) -> None:
        """Start the database (embedded unless configured), migrate, then run the Dagster UI and daemon."""
        from storeml_assets.db.migrate import migrate

        settings = get_settings()
        console.print("[bold]storeml dev[/]: preparing the database")
        report = migrate(settings, log=lambda line: console.print(f"  {line}", highlight=False))
        console.print(f"  migrations: {report.applied_count} applied")
        env = project_instance_env(settings)
        workspace = str(settings.project_root / "workspace.yaml")
        level = "info" if verbose else "warning"
        bin_dir = Path(sys.executable).parent
        # the webserver and the daemon, as in production (`dagster dev` is superseded by Dagster);
        # run from the instance's own folder, where the linked dagster.yaml is the instance's
        commands = {
            "dagster-webserver": [str(bin_dir / "dagster-webserver"), "-w", workspace, "-h", host, "-p", str(port),
                                  "--dagster-log-level", level, "--uvicorn-log-level", level,
                                  "--code-server-log-level", level],
            "dagster-daemon": [str(bin_dir / "dagster-daemon"), "run", "-w", workspace, "--log-level", level,
                               "--code-server-log-level", level],
        }
        log_path = settings.home / "logs" / "dagster-dev.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            output = None if verbose else log
            processes = {
                name: subprocess.Popen(cmd, env=env, cwd=settings.dagster_home, stdout=output, stderr=output)
                for name, cmd in commands.items()
            }
            console.print(f"[bold green]Dagster UI[/] at http://{host}:{port} (Ctrl-C stops it; logs in {log_path})",
                          highlight=False)
            code = _wait_for_first_exit(processes)
        if code not in (0, None):
            fail(f"the Dagster UI stopped (exit code {code}); see {log_path}")

    @app.command()
    def mlflow(
        host: str = typer.Option("127.0.0.1", help="Address the MLflow UI binds to."),
        port: int = typer.Option(5000, min=1, max=65535, help="Port of the MLflow UI."),
    ) -> None:
        """Run the MLflow UI on the project's tracking store (the `mlflow` database) and artifacts."""
        from storeml_assets.ml.mlflow_resource import MlflowTracking

        settings = get_settings()
        configured = settings.mlflow_tracking_uri or ""
        if configured.startswith(("http://", "https://")):
            console.print(f"MLflow tracks to a server: open {MlflowTracking().display_uri}", highlight=False)
            return
        from storeml_assets.db.migrate import migrate

        migrate(settings, databases=["mlflow"])
        tracking = MlflowTracking()
        env = dict(os.environ)
        # the store URI goes through the environment, never the command line (visible in `ps`)
        env["MLFLOW_BACKEND_STORE_URI"] = tracking.resolved_tracking_uri()
        env["MLFLOW_DEFAULT_ARTIFACT_ROOT"] = tracking.resolved_artifact_location()
        console.print(f"[bold green]MLflow UI[/] at http://{host}:{port} (store {tracking.display_uri}, "
                      f"artifacts in {settings.mlflow_artifacts_dir}; Ctrl-C stops it)", highlight=False)
        executable = Path(sys.executable).with_name("mlflow")
        args = [str(executable), "server", "--host", host, "--port", str(port)]
        os.execve(args[0], args, env)
