"""`storeml demo`: simulate a storefront, run the whole graph and print what it found."""

from __future__ import annotations

import typer

from storeml_assets.console import configure_logging, console, fail, print_error, route_library_output
from storeml_assets.settings import get_settings


def register(app: typer.Typer) -> None:
    """Add ``storeml demo`` to the command line."""

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
