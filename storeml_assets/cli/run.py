"""`storeml run`: materialize the graph (or a selection) on the configured sources, synthetic or external.

How CI and cron run the platform without the UI: every partition needed, progress per stage, the
same summary as the demo (or one JSON document with ``--json``), exit 1 when a blocking check fails
or a stage fails, exit 2 on a bad argument.
"""

from __future__ import annotations

import io
import json
from datetime import date
from typing import Any

import typer
from rich.console import Console

from storeml_assets.console import configure_logging, console, fail, print_error, route_library_output
from storeml_assets.settings import get_settings


def _day(value: str | None, option: str) -> date | None:
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        fail(f"{option} must be a date (YYYY-MM-DD), got {value!r}", code=2)


def report_json(report: Any, error: str | None) -> dict[str, Any]:
    """The run's report as one JSON document (stages with rows/s, runs, families, failed checks)."""
    return {
        "success": error is None,
        "error": error,
        "started_at": report.started_at.isoformat(),
        "total_seconds": round(report.total_seconds, 3),
        "stages": [
            {"name": s.name, "seconds": round(s.seconds, 3), "rows": s.rows,
             "rows_per_second": round(s.rows_per_second, 1) if s.rows_per_second else None}
            for s in report.stage_times
        ],
        "runs": [{"job": job, "run_id": run_id, "success": ok} for job, run_id, ok in report.runs],
        "families": [
            {"family": f.family, "purpose": f.purpose, "status": f.status, "reason": f.reason} for f in report.families
        ],
        "failed_checks": list(report.failed_checks),
        "skipped": list(report.skipped),
    }


def register(app: typer.Typer) -> None:
    """Add ``storeml run`` to the command line."""

    @app.command("run")
    def run_command(
        select: str = typer.Option(
            "", "--select", help="Comma-separated groups to run: sources, warehouse, bundles, features, models, "
            "promotion, monitoring (default: all)."
        ),
        start: str = typer.Option(None, "--from", help="First day of the event partitions (YYYY-MM-DD)."),
        end: str = typer.Option(None, "--to", help="Last day of the event partitions (YYYY-MM-DD)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document instead of tables."),
        verbose: bool = typer.Option(False, "--verbose", help="Print Dagster's run logs too."),
    ) -> None:
        """Materialize the graph on the configured sources: every partition, every check, then a summary."""
        from storeml_assets.runner import parse_selection

        try:
            stages = parse_selection(select)
        except ValueError as exc:
            fail(str(exc), code=2)
        first, last = _day(start, "--from"), _day(end, "--to")
        if first and last and last < first:
            fail(f"--to {last} is before --from {first}", code=2)

        import mlflow  # noqa: F401 - imported here so its stderr output can be routed to the log file

        from storeml_assets.demo import print_summary
        from storeml_assets.runner import Runner

        settings = get_settings()
        if verbose:
            configure_logging(settings.home / "logs", verbose=True)
        route_library_output(verbose=verbose)
        out = Console(file=io.StringIO()) if as_json else console
        out.print(f"[bold]storeml run[/] ({settings.source_mode} sources)")
        runner = Runner(settings, out, log_level="DEBUG" if verbose else "WARNING", stages=stages,
                        start=first, end=last)
        error: str | None = None
        try:
            runner.run()
        except (RuntimeError, ValueError) as exc:  # blocking check, failed stage, empty range: one line, exit 1
            error = str(exc)
        if as_json:
            typer.echo(json.dumps(report_json(runner.report, error), indent=2))
        elif error is None:
            print_summary(out, runner.report)
        else:
            if runner.report.families:
                from storeml_assets.demo import purposes_table

                out.print(purposes_table(runner.report))
            print_error(error)
        if error is not None:
            raise typer.Exit(1)
