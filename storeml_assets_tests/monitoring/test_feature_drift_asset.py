"""Materialize monitoring/feature_drift on a migrated database with simulated raw tables and real MLflow."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import mlflow as mlflow_lib
import pytest

from storeml_assets.db.locator import database_url
from storeml_assets.db.urls import sqlalchemy_url
from storeml_assets.features.customer import DRIFT_COLUMNS, DRIFT_FEATURES
from storeml_assets.ml.mlflow_resource import MlflowTracking
from storeml_assets.models.purchase_propensity import FAMILY
from storeml_assets.monitoring.drift import build_drift_asset, train_cutoffs
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.synthetic.simulator import SimulationConfig, simulate
from storeml_assets_tests.monitoring.helpers import (
    execute,
    insert_model_version,
    migrate_storeml,
    raw_frames_from_simulation,
    write_raw,
)

pytestmark = pytest.mark.slow  # MLflow migrates its fresh database (~10-20 s)

feature_drift = build_drift_asset(FAMILY)


def test_feature_drift_materializes_report_metrics_and_mlflow_run(isolated_env, tmp_path: Path) -> None:
    url = migrate_storeml()
    from storeml_assets.db.migrate import migrate

    migrate(databases=["mlflow"])
    cfg = SimulationConfig(scale="small", drift=True, seed=11)
    write_raw(url, raw_frames_from_simulation(simulate(cfg)))
    tracking = MlflowTracking(tracking_uri=sqlalchemy_url(database_url("mlflow")),
                              artifact_location=str(tmp_path / "artifacts"), experiment_name="storeml-test")
    resources = {"storeml_db": PostgresResource(database="storeml"), "mlflow": tracking}
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            result = dg.materialize([feature_drift], resources=resources, instance=instance)
        assert result.success
        meta = result.get_asset_materialization_events()[0].materialization.metadata
    finally:
        while mlflow_lib.active_run() is not None:
            mlflow_lib.end_run()
        mlflow_lib.set_tracking_uri(None)

    # no champion: the reference is the 30 days before the latest 30 days (the drift cut-over here)
    assert meta["reference_source"].value == "previous_window"
    assert meta["current_cutoff"].value.startswith("2026-11-01")
    assert meta["reference_cutoff"].value.startswith("2026-10-02")  # current cutoff - 30 days
    assert set(meta["drifted_columns"].value) == set(DRIFT_FEATURES)
    assert meta["drift_share"].value > 0.3 and meta["dataset_drift"].value is True
    assert meta["verdict"].value == "drift share 0.83 (5 of 6 columns) >= 0.3"
    assert meta["compared"].value == ("trailing 30-day profile of active customers at 2026-10-02 "
                                      "vs 2026-11-01")
    assert "| channel_mobile_share |" in meta["column_scores"].value
    report = Path(meta["report_path"].value)
    assert report.is_file() and report.stat().st_size > 10_000
    assert report.is_relative_to(Path(os.environ["STOREML_HOME"]) / "reports")

    rows = execute(url, "select metric_type, metric_name, metric_value, metadata from mlops.monitoring_metrics "
                        "where metric_type = 'drift' order by id")
    assert [r[1] for r in rows] == [*(f"drift_score:{c}" for c in DRIFT_COLUMNS), "drift_share"]
    assert rows[-1][2] == pytest.approx(meta["drift_share"].value)
    assert rows[0][3]["stattest"] == "wasserstein" and rows[0][3]["threshold"] == 0.1 and rows[0][3]["drifted"]
    latest = execute(url, "select metric_value from mlops.v_recent_monitoring where metric_name = 'drift_share'")
    assert latest[0][0] == pytest.approx(meta["drift_share"].value)

    run = tracking.client().get_run(meta["mlflow_run_id"].value)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["drift_share"] == pytest.approx(meta["drift_share"].value)
    artifacts = [a.path for a in tracking.client().list_artifacts(run.info.run_id, "drift")]
    assert artifacts == [f"drift/{report.name}"]


def test_champion_cutoff_is_the_reference(isolated_env) -> None:
    from storeml_assets.monitoring import store

    url = migrate_storeml()
    from datetime import UTC, datetime

    insert_model_version(url, version="4", status="production", created_at=datetime(2026, 10, 2, tzinfo=UTC),
                         training_window_end=datetime(2026, 10, 1, tzinfo=UTC),
                         metadata={"train_cutoffs": "2026-08-02,2026-09-01"})
    resource = PostgresResource(database="storeml")
    try:
        with resource.connect() as conn:
            champ = store.champion_state(conn, "purchase_propensity")
    finally:
        resource.dispose()
    assert champ is not None and champ.model_version == "4"
    assert champ.training_cutoff == datetime(2026, 9, 1, tzinfo=UTC)
    assert champ.training_window_end == datetime(2026, 10, 1, tzinfo=UTC)


def test_train_cutoffs_of_the_champion_metadata() -> None:
    from datetime import UTC, datetime

    assert train_cutoffs({"train_cutoffs": "2026-07-03,2026-08-02"}) == [
        datetime(2026, 7, 3, tzinfo=UTC), datetime(2026, 8, 2, tzinfo=UTC)]
    assert train_cutoffs('{"train_cutoffs": ["2026-08-02"]}') == [datetime(2026, 8, 2, tzinfo=UTC)]
    assert train_cutoffs({}) == [] and train_cutoffs(None) == []
    with pytest.raises(ValueError, match="2026-13-01"):
        train_cutoffs({"train_cutoffs": "2026-13-01"})


def test_tiny_storefront_against_the_champion_cutoffs_and_too_few_rows(isolated_env, tmp_path: Path) -> None:
    """At tiny scale the champion's training cutoffs are the reference and the planted drift is flagged;
    with a minimum above the rows there is no verdict, and no drift share the sensor could fire on."""
    from datetime import UTC, datetime

    from storeml_assets.db.migrate import migrate
    from storeml_assets.monitoring import store

    url = migrate_storeml()
    migrate(databases=["mlflow"])
    write_raw(url, raw_frames_from_simulation(simulate(SimulationConfig(scale="tiny", drift=True, seed=42))))
    insert_model_version(url, version="1", status="production", created_at=datetime(2026, 10, 1, tzinfo=UTC),
                         training_window_end=datetime(2026, 9, 1, tzinfo=UTC),
                         metadata={"train_cutoffs": "2026-07-03,2026-08-02"})
    tracking = MlflowTracking(tracking_uri=sqlalchemy_url(database_url("mlflow")),
                              artifact_location=str(tmp_path / "artifacts"), experiment_name="storeml-test")
    resources = {"storeml_db": PostgresResource(database="storeml"), "mlflow": tracking}
    key = feature_drift.key.to_python_identifier()
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            judged = dg.materialize([feature_drift], resources=resources, instance=instance)
            thin = dg.materialize([feature_drift], resources=resources, instance=instance,
                                  run_config={"ops": {key: {"config": {"min_rows": 5000}}}})
        assert judged.success and thin.success
        meta = judged.get_asset_materialization_events()[0].materialization.metadata
        thin_meta = thin.get_asset_materialization_events()[0].materialization.metadata
    finally:
        while mlflow_lib.active_run() is not None:
            mlflow_lib.end_run()
        mlflow_lib.set_tracking_uri(None)

    assert meta["reference_source"].value == "champion"
    assert meta["reference_cutoffs"].value == ["2026-07-03", "2026-08-02"]
    assert set(meta["drifted_columns"].value) == set(DRIFT_FEATURES)
    assert meta["compared"].value == ("trailing 30-day profile of active customers at 2026-07-03, 2026-08-02 "
                                      "vs 2026-11-01")
    rows_ref, rows_cur = meta["reference_rows"].value, meta["current_rows"].value
    assert 200 <= rows_cur < 500 and 400 <= rows_ref < 1000  # active customers at two cutoffs vs one

    assert thin_meta["drift_share"].value == "n/a" and thin_meta["dataset_drift"].value is False
    assert thin_meta["verdict"].value == (f"not enough data to judge drift ({rows_ref} reference / "
                                          f"{rows_cur} current rows < 5000)")
    assert thin_meta["drifted_columns"].value == []
    newest = execute(url, "select metric_name, metric_value, metadata from mlops.monitoring_metrics "
                          "where metric_type = 'drift' order by id desc limit 1")[0]
    assert newest[0] == "drift_share" and newest[1] is None
    assert newest[2]["verdict"] == thin_meta["verdict"].value
    resource = PostgresResource(database="storeml")
    try:
        with resource.connect() as conn:
            assert store.latest_drift(conn) is None  # nothing for the retraining sensor to fire on
    finally:
        resource.dispose()
