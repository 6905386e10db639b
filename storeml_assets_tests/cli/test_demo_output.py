"""What a person reads: the demo summary in 80 columns, and library chatter kept out of the terminal
(the real demo's terminal output is checked by ``storeml_assets_tests/test_demo.py``)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from storeml_assets.console import LOG_FILE_NAME, configure_logging
from storeml_assets.demo import MODEL_COLUMNS, DemoReport, print_summary
from storeml_assets_tests.monitoring.helpers import execute, migrate_storeml


def test_model_table_reads_in_80_columns(isolated_env: dict[str, str]) -> None:
    url = migrate_storeml()
    report = DemoReport(started_at=datetime.now(UTC) - timedelta(minutes=5))
    oracle = {"oracle": {"model_roc_auc": 0.7011, "oracle_roc_auc": 0.7523, "ratio": 0.9319}}
    for n, status in ((1, "archived"), (2, "production"), (3, "staging")):
        execute(
            url,
            "insert into mlops.model_versions (model_name, mlflow_run_id, model_version, status, f1_score, "
            "brier_score, roc_auc, metadata) values ('purchase_propensity', %s, %s, %s, 0.6123, 0.1871, 0.7312, %s)",
            (f"run-{n}", str(n), status, json.dumps(oracle)),
        )
    out = io.StringIO()
    print_summary(Console(file=out, width=80, color_system=None), report)
    text = out.getvalue()

    assert "…" not in text and "..." not in text, text  # no header or figure cut short
    assert max(len(line) for line in text.splitlines()) <= 80
    table = text[text.index("model versions trained by this demo"):]
    for header in MODEL_COLUMNS:
        for word in header.split("\n"):
            assert word in table, (word, table)
    assert "production" in table and "0.612" in table and "0.932" in table


@pytest.fixture
def restored_logging() -> object:
    """Put back what the logging set-up under test changes in this process (root handlers, MLflow's output)."""
    import mlflow.utils.logging_utils as mlflow_logging

    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    mlflow_logger = logging.getLogger("mlflow")
    saved_mlflow = (list(mlflow_logger.handlers), mlflow_logger.propagate)
    saved_stream = mlflow_logging.MLFLOW_LOGGING_STREAM
    yield mlflow_logging
    for handler in root.handlers[:]:
        if handler not in saved_handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(saved_level)
    mlflow_logger.handlers, mlflow_logger.propagate = saved_mlflow
    mlflow_logging.MLFLOW_LOGGING_STREAM = saved_stream


def test_library_output_goes_to_the_log_file_not_the_terminal(tmp_path: Path, restored_logging) -> None:
    mlflow_logging = restored_logging
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        path = configure_logging(tmp_path / "logs", verbose=False)
        # what MLflow printed during the demo: a logger line and a direct print
        logging.getLogger("mlflow.store.db.utils").info("Creating initial MLflow database tables...")
        mlflow_logging.eprint("Successfully registered model 'purchase_propensity'.")
        logging.getLogger("alembic.runtime.migration").warning("Context impl PostgresqlImpl.")
        logging.getLogger("storeml").info("connecting to postgresql://probe:Qlogged5ecret@db:5432/storeml")
    assert err.getvalue() == ""
    assert path == tmp_path / "logs" / LOG_FILE_NAME
    logged = path.read_text()
    assert "Creating initial MLflow database tables..." in logged
    assert "Successfully registered model 'purchase_propensity'." in logged
    assert "Context impl PostgresqlImpl." in logged
    assert "postgresql://probe:***@db:5432/storeml" in logged and "Qlogged5ecret" not in logged


def test_verbose_streams_library_logs(tmp_path: Path, restored_logging) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert configure_logging(tmp_path / "logs", verbose=True) is None
        logging.getLogger("mlflow.store.db.utils").info("Creating initial MLflow database tables...")
    assert "Creating initial MLflow database tables..." in err.getvalue()
    assert not (tmp_path / "logs" / LOG_FILE_NAME).exists()
