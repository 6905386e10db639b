"""`storeml mlops decisions | timeline | monitoring`: the three mlops views as tables or JSON."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import typer

from storeml_assets import mlops
from storeml_assets.console import console
from storeml_assets.jsonsafe import to_jsonable

#: kind -> (view, columns shown in the table; ``--json`` prints every column of the view)
VIEWS: dict[str, tuple[str, list[str]]] = {
    "decisions": (
        mlops.VIEWS["decisions"],
        ["decision_id", "decision_timestamp", "action", "model_version", "gates_passed", "gates_total",
         "failed_gates", "f1_score"],
    ),
    "timeline": (
        mlops.VIEWS["timeline"],
        ["model_version", "status", "created_at", "production_from", "production_until",
         "time_in_production", "f1_score", "roc_auc"],
    ),
    "monitoring": (
        mlops.VIEWS["monitoring"],
        ["metric_type", "metric_name", "metric_value", "timestamp", "model_version"],
    ),
}


def read_view(view: str, limit: int) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Every column of ``mlops.<view>`` in the view's own order, at most ``limit`` rows."""
    from storeml_assets.resources.postgres import PostgresResource

    if limit < 1:
        raise ValueError(f"--limit must be at least 1, got {limit}")
    storeml_db = PostgresResource(database="storeml", application_name="storeml-cli")
    try:
        with storeml_db.connect() as conn:
            return mlops.read_view(conn, view, limit)
    finally:
        storeml_db.dispose()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.timedelta):
        return str(value).split(".")[0]
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def show(kind: str, limit: int, as_json: bool) -> None:
    from rich.table import Table

    view, shown = VIEWS[kind]
    columns, rows = read_view(view, limit)
    if as_json:
        typer.echo(json.dumps([{c: to_jsonable(v) for c, v in zip(columns, row, strict=True)} for row in rows], indent=2))
        return
    index = {c: i for i, c in enumerate(columns)}
    table = Table(title=f"mlops.{view} ({len(rows)} rows)", title_justify="left")
    cols = [c for c in shown if c in index]
    for column in cols:
        table.add_column(column, overflow="fold",
                         justify="right" if column.endswith(("score", "auc", "value", "rows", "id")) else "left")
    for row in rows:
        table.add_row(*(_cell(row[index[c]]) for c in cols))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``storeml mlops ...`` to the command line."""
    mlops = typer.Typer(help="Read the mlops views: decisions, model timeline, recent monitoring, families, metrics.",
                        no_args_is_help=True)

    limit_opt = typer.Option(20, "--limit", "-n", help="At most this many rows.")
    json_opt = typer.Option(False, "--json", help="Print JSON (every column) instead of a table.")

    @mlops.command()
    def decisions(limit: int = limit_opt, as_json: bool = json_opt) -> None:
        """Promotion decisions, newest first, with gates passed (the mlops view v_decision_history)."""
        show("decisions", limit, as_json)

    @mlops.command()
    def timeline(limit: int = limit_opt, as_json: bool = json_opt) -> None:
        """Model versions and their time in production (the mlops view v_model_timeline)."""
        show("timeline", limit, as_json)

    @mlops.command()
    def monitoring(limit: int = limit_opt, as_json: bool = json_opt) -> None:
        """The latest value of each monitoring metric (the mlops view v_recent_monitoring)."""
        show("monitoring", limit, as_json)

    @mlops.command()
    def families(limit: int = limit_opt, as_json: bool = json_opt) -> None:
        """Each model family's champion and headline metric, and its newest attempt (the view v_family_status)."""
        show("families", limit, as_json)

    @mlops.command()
    def metrics(limit: int = limit_opt, as_json: bool = json_opt) -> None:
        """Every metric of every model version, one row each (the mlops view v_model_metrics)."""
        show("metrics", limit, as_json)

    app.add_typer(mlops, name="mlops")
