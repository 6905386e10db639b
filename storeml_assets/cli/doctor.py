"""`storeml doctor`: are the storefront's source databases reachable and ready for ML?"""

from __future__ import annotations

import typer

from storeml_assets.console import console


def register(app: typer.Typer) -> None:
    """Add ``storeml doctor`` to the command line."""

    @app.command()
    def doctor() -> None:
        """Check every source database: reachable, tables and row counts, which ML purposes are ready. Exit 0 when the
        required tables are."""
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
            mark = "[green]yes[/]" if item.ready else "[yellow]skipped[/]"
            readiness.add_row(item.purpose, item.table, shown, f"{item.minimum:,}+", mark)
        console.print(readiness)
        for item in report.skipped:
            console.print(f"[yellow]skipped:[/] {item.reason}", highlight=False)
        if report.ready:
            console.print("[bold green]ready[/]: every source database is reachable and the required tables "
                          "(users, products, orders, order items) have enough data")
        else:
            console.print("[bold red]not ready[/]: see the rows marked above")
            raise typer.Exit(1)
