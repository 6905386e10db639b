"""Fixtures of the model-lifecycle tests: a tiny simulated storefront in raw, and MLflow on its database."""

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from storeml_assets.db.migrate import migrate
from storeml_assets.features.customer import RAW_COLUMNS
from storeml_assets.io.postgres_io_manager import store_frame
from storeml_assets.ml.mlflow_resource import MlflowTracking
from storeml_assets.sources.catalog import CATALOG
from storeml_assets.synthetic.loader import load
from storeml_assets_tests.features.frames import raw_frames, simulated


@pytest.fixture
def storefront(isolated_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """Migrated databases, a tiny simulated storefront in the sources and ground truth, raw tables written."""
    migrate()
    data = simulated("tiny", 7, False)
    load(data)
    url = isolated_env["storeml"]
    frames = raw_frames(data)
    for table in RAW_COLUMNS:
        store_frame(url, "raw", table, frames[table])
    # every other source table too, so that the real source checks can run on all of raw
    for table in CATALOG:
        if table not in RAW_COLUMNS:
            store_frame(url, "raw", table, data.table(table))
    yield isolated_env


@pytest.fixture
def tracking(storefront: dict[str, str], tmp_path: Path) -> Iterator[MlflowTracking]:
    resource = MlflowTracking(tracking_uri=storefront["mlflow"], artifact_location=str(tmp_path / "mlartifacts"),
                              experiment_name="storeml-models-test")
    try:
        yield resource
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(None)
