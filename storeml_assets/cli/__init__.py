"""The `storeml` command line."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import typer

from storeml_assets.bundles.cli import register as register_rules
from storeml_assets.checks_cli import register as register_check
from storeml_assets.console import (
    LOG_FILE_NAME,
    configure_logging,
    console,
    fail,
    print_error,
    route_library_output,
)
from storeml_assets.db.cli import db_app
from storeml_assets.db.embedded import EmbeddedPostgresError
from storeml_assets.db.locator import DatabaseUnreachableError
from storeml_assets.db.migrate import MigrationError
from storeml_assets.db.urls import first_line
from storeml_assets.instance import project_instance_env, write_dotenv
from storeml_assets.mlops_cli import register as register_mlops
from storeml_assets.settings import SettingsError, get_settings

app = typer.Typer(
    name="storeml",
    help="storeml: a Dagster asset-graph ML platform for an e-commerce storefront.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db_app, name="db")
register_rules(app)
register_mlops(app)
register_check(app)


@app.callback()
def root(
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help=f"Stream library logs to stderr (default: $STOREML_HOME/logs/{LOG_FILE_NAME})."
    ),
) -> None:
    """storeml: a Dagster asset-graph ML platform for an e-commerce storefront."""
    settings = get_settings()  # every STOREML_* variable is checked before any command does work
    configure_logging(settings.home / "logs", verbose=verbose)
    try:
        write_dotenv(settings)  # plain `dagster ...` commands in the checkout find the same instance
    except OSError as exc:
        logging.getLogger("storeml").warning("cannot write %s/.env: %s", settings.project_root, exc.strerror)


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


@app.command()
def doctor() -> None:
    """Check every source database: reachable, tables and row counts, ML readiness. Exit 0 only when ready."""
    from rich.table import Table

    from storeml_assets.sources.doctor import examine

    report = examine()
    for db in report.databases:
        if db.error:
            console.print(f"[bold red]✗ {db.database}[/] at {db.host}: {db.error}", highlight=False)
            continue
        table = Table(title=f"{db.database} ({db.host})", title_justify="left")
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name, rows in db.tables.items():
            table.add_row(name, "[red]missing[/]" if rows is None else f"{rows:,}")
        console.print(table)
    readiness = Table(title="ML readiness", title_justify="left")
    for column in ("purpose", "table", "rows", "needs", "ready"):
        readiness.add_column(column)
    for item in report.readiness:
        shown = "missing" if item.rows is None else f"{item.rows:,}"
        mark = "[green]yes[/]" if item.ready else "[red]no[/]"
        readiness.add_row(item.purpose, item.table, shown, f"{item.minimum:,}+", mark)
    console.print(readiness)
    if report.ready:
        console.print("[bold green]ready[/]: every source database is reachable and has enough data")
    else:
        console.print("[bold red]not ready[/]: see the rows marked above")
        raise typer.Exit(1)


@app.command()
def demo(
    scale: str = typer.Option("small", help="tiny | small | medium | large"),
    drift: bool = typer.Option(False, "--drift", help="Train a champion, then a drifted period, sensor and retrain."),
    seed: int = typer.Option(42, help="Simulator seed."),
    verbose: bool = typer.Option(False, "--verbose", help="Print Dagster's run logs too."),
) -> None:
    """Migrate, simulate, materialize the whole graph with every check, and print a summary."""
    from storeml_assets.synthetic.scales import SCALES

    # every argument is checked before any work (exit 2, like any usage error)
    if scale not in SCALES:
        fail(f"--scale must be one of {', '.join(SCALES)}, got {scale!r}", code=2)
    if seed < 0:
        fail(f"--seed must be zero or positive, got {seed}", code=2)

    import mlflow  # noqa: F401 - imported here so its stderr output can be routed to the log file

    from storeml_assets.demo import BlockingCheckFailed, Demo, print_summary

    settings = get_settings()
    if verbose:
        configure_logging(settings.home / "logs", verbose=True)
    route_library_output(verbose=verbose)
    console.print(f"[bold]storeml demo[/] (scale {scale}{', drift' if drift else ''}, seed {seed})")
    runner = Demo(settings, console, scale=scale, drift=drift, seed=seed, log_level="DEBUG" if verbose else "WARNING")
    try:
        report = runner.run()
    except BlockingCheckFailed as exc:
        print_error(str(exc))
        raise typer.Exit(1) from None
    except RuntimeError as exc:
        print_error(str(exc))
        raise typer.Exit(1) from None
    print_summary(console, report)


def main() -> None:
    """Entry point: every error is one clear, redacted line (the traceback goes to the log file)."""
    try:
        app()
    except SettingsError as exc:
        print_error(str(exc))
        sys.exit(2)
    except (EmbeddedPostgresError, DatabaseUnreachableError, MigrationError, ValueError) as exc:
        print_error(str(exc))
        sys.exit(1)
    except Exception as exc:  # an unexpected error: one line here, the redacted traceback in the log
        logging.getLogger("storeml").exception("unexpected error")
        try:
            where = str(get_settings().home / "logs" / LOG_FILE_NAME)
        except ValueError:
            where = f"$STOREML_HOME/logs/{LOG_FILE_NAME}"
        print_error(f"{type(exc).__name__}: {first_line(exc)} (traceback in {where})")
        sys.exit(1)


if __name__ == "__main__":
    main()
