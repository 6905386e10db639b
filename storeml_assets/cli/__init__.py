"""The `storeml` command line: the typer app, its entry point, and one module per command.

- :mod:`~storeml_assets.cli.db`: ``storeml db up | down | status | migrate``
- :mod:`~storeml_assets.cli.rules`: ``storeml rules`` (association rules from a CSV of baskets)
- :mod:`~storeml_assets.cli.mlops`: ``storeml mlops decisions | timeline | monitoring``
- :mod:`~storeml_assets.cli.check`: ``storeml check`` (every asset check, no materialization)
- :mod:`~storeml_assets.cli.dev`: ``storeml dev`` (Dagster UI and daemon), ``storeml mlflow``
- :mod:`~storeml_assets.cli.doctor`: ``storeml doctor`` (are the source databases ready?)
- :mod:`~storeml_assets.cli.demo`: ``storeml demo`` (simulate, run the whole graph, summarise)
- :mod:`~storeml_assets.cli.run`: ``storeml run`` (the whole graph or a selection on the configured sources)
"""

from __future__ import annotations

import logging
import sys

import typer

from storeml_assets.cli import check, db, demo, dev, doctor, mlops, rules, serve
from storeml_assets.cli import run as run_cli
from storeml_assets.console import LOG_FILE_NAME, configure_logging, print_error
from storeml_assets.db.embedded import EmbeddedPostgresError
from storeml_assets.db.locator import DatabaseUnreachableError
from storeml_assets.db.migrate import MigrationError
from storeml_assets.db.urls import first_line
from storeml_assets.instance import write_dotenv
from storeml_assets.settings import SettingsError, get_settings

app = typer.Typer(
    name="storeml",
    help="storeml: a Dagster asset-graph ML platform for an e-commerce storefront.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.db_app, name="db")
rules.register(app)
mlops.register(app)
check.register(app)


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


dev.register(app)
doctor.register(app)
demo.register(app)
run_cli.register(app)
serve.register(app)


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
