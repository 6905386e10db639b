"""The `storeml` command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from storeml_assets.bundles.cli import register as register_rules
from storeml_assets.checks_cli import register as register_check
from storeml_assets.console import console, print_error
from storeml_assets.db.cli import db_app
from storeml_assets.db.embedded import EmbeddedPostgresError
from storeml_assets.db.locator import DatabaseUnreachableError
from storeml_assets.db.migrate import MigrationError
from storeml_assets.instance import project_instance_env
from storeml_assets.mlops_cli import register as register_mlops
from storeml_assets.settings import get_settings

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


@app.command()
def dev(
    host: str = typer.Option("127.0.0.1", help="Address the Dagster UI binds to."),
    port: int = typer.Option(3000, help="Port of the Dagster UI."),
) -> None:
    """Start the database (embedded unless configured), migrate, then run the Dagster UI and daemon."""
    from storeml_assets.db.migrate import migrate

    settings = get_settings()
    console.print("[bold]storeml dev[/]: preparing the database")
    report = migrate(settings, log=lambda line: console.print(f"  {line}", highlight=False))
    console.print(f"  migrations: {report.applied_count} applied")
    env = project_instance_env(settings)
    console.print(f"[bold green]Dagster UI[/] at http://{host}:{port} (Ctrl-C stops it)")
    workspace = settings.project_root / "workspace.yaml"
    dagster = Path(sys.executable).with_name("dagster")
    args = [str(dagster), "dev", "-w", str(workspace), "-h", host, "-p", str(port)]
    os.chdir(settings.project_root)
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
    from storeml_assets.demo import BlockingCheckFailed, Demo, print_summary

    settings = get_settings()
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
    """Entry point with storeml's known errors turned into one clear line."""
    try:
        app()
    except (EmbeddedPostgresError, DatabaseUnreachableError, MigrationError, ValueError) as exc:
        print_error(str(exc))
        sys.exit(1)


if __name__ == "__main__":
    main()
