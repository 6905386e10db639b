"""`storeml db ...`: manage the embedded server and migrations."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from storeml_assets.console import console
from storeml_assets.db.embedded import EmbeddedPostgres
from storeml_assets.db.locator import check_reachable, configured_servers, database_url
from storeml_assets.db.urls import redact
from storeml_assets.settings import ALL_DATABASES, get_settings

db_app = typer.Typer(help="Manage storeml's Postgres: the embedded server and migrations.", no_args_is_help=True)


@db_app.command("up")
def up() -> None:
    """Start the embedded Postgres server (or check the configured one) and print where it is."""
    settings = get_settings()
    if not settings.uses_embedded:
        hosts = check_reachable(settings)
        console.print(f"configured server reachable at {', '.join(hosts)}; nothing to start", highlight=False)
        return
    embedded = EmbeddedPostgres.from_settings(settings)
    was_running = embedded.status().running
    url = embedded.ensure_running()
    verb = "already running" if was_running else "started"
    console.print(f"embedded Postgres {verb} at {url} (data in {embedded.data_dir})")


@db_app.command("down")
def down(
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Stop the server of this data folder instead (e.g. the tests' .storeml/test-pg)."
    ),
) -> None:
    """Stop the embedded Postgres server."""
    settings = get_settings()
    embedded = EmbeddedPostgres.from_settings(settings)
    if data_dir is not None:
        embedded = EmbeddedPostgres(data_dir.resolve(), settings.embedded_port)
    if embedded.stop():
        console.print(f"embedded Postgres stopped (data in {embedded.data_dir})", highlight=False)
    else:
        console.print(f"embedded Postgres was not running (data in {embedded.data_dir})", highlight=False)


@db_app.command("status")
def status() -> None:
    """Show the server, each database and its pending migrations."""
    from storeml_assets.db.migrate import pending

    settings = get_settings()
    if settings.uses_embedded:
        state = EmbeddedPostgres.from_settings(settings).status()
        where = f"embedded, pid {state.pid}, port {state.port}" if state.running else "embedded, stopped"
        console.print(f"server: {where} (data in {state.data_dir})")
        if not state.running:
            console.print("run `storeml db up` or any command that needs the database to start it")
            raise typer.Exit(1)
    else:
        console.print(f"server: configured ({', '.join(configured_servers(settings))})", highlight=False)
    waiting = pending(settings)
    table = Table("database", "url", "pending migrations")
    table.columns[1].overflow = "fold"  # a URL is never cut: it wraps
    for db in ALL_DATABASES:
        files = waiting.get(db, [])
        table.add_row(db, redact(database_url(db, settings)), str(len(files)) if files else "up to date")
    console.print(table)


@db_app.command("url")
def url(
    database: str = typer.Argument("storeml", help=f"One of: {', '.join(ALL_DATABASES)}."),
    reveal: bool = typer.Option(False, "--reveal", help="Print the password too (for scripts)."),
) -> None:
    """Print a database's connection URL (for psql and other clients)."""
    if database not in ALL_DATABASES:
        raise typer.BadParameter(f"unknown database {database!r}; known: {', '.join(ALL_DATABASES)}")
    value = database_url(database)
    typer.echo(value if reveal else redact(value))


@db_app.command("migrate")
def migrate_command() -> None:
    """Create missing databases and apply pending `sql/` migrations (safe to run twice or concurrently)."""
    from storeml_assets.db.migrate import migrate

    settings = get_settings()
    report = migrate(settings, log=lambda line: console.print(f"  {line}", highlight=False))
    console.print(f"migrations: {report.applied_count} applied, databases up to date")
