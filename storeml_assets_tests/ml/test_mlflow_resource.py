"""MlflowTracking against a real Postgres backend store (a fresh database) and tmp artifacts."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import mlflow
import numpy as np
import pytest

from storeml_assets.db.urls import sqlalchemy_url
from storeml_assets.ml.mlflow_resource import (
    TAG_ASSET_KEY,
    TAG_RUN_ID,
    MlflowTracking,
)
from storeml_assets.ml.train import decision_threshold, evaluate, evaluation_plots, train_model
from storeml_assets_tests.ml.synthetic import FEATURES, LABEL, SEGMENTS, customer_frame

pytestmark = pytest.mark.slow  # MLflow runs its alembic migrations on the fresh database (~10-20 s)


@pytest.fixture
def tracking(fresh_db: str, tmp_path: Path) -> Iterator[MlflowTracking]:
    resource = MlflowTracking(
        tracking_uri=sqlalchemy_url(fresh_db),
        artifact_location=str(tmp_path / "artifacts"),
        experiment_name="storeml-test",
    )
    try:
        yield resource
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(None)


def test_runs_end_finished_or_failed_with_dagster_tags(tracking: MlflowTracking) -> None:
    seen: dict[str, str] = {}

    @dg.asset(key=["models", "good_model"])
    def good_model(context: dg.AssetExecutionContext, mlflow_tracking: MlflowTracking) -> None:
        with mlflow_tracking.start_run(context, run_name="good", tags={"purpose": "test"}) as run:
            mlflow.log_metric("f1", 0.5)
            seen["good"] = run.info.run_id

    @dg.asset(key=["models", "bad_model"])
    def bad_model(context: dg.AssetExecutionContext, mlflow_tracking: MlflowTracking) -> None:
        with mlflow_tracking.start_run(context, run_name="bad") as run:
            seen["bad"] = run.info.run_id
            raise ValueError("training blew up")

    ok = dg.materialize([good_model], resources={"mlflow_tracking": tracking})
    assert ok.success
    failed = dg.materialize([bad_model], resources={"mlflow_tracking": tracking}, raise_on_error=False)
    assert not failed.success

    client = tracking.client()
    good, bad = client.get_run(seen["good"]), client.get_run(seen["bad"])
    assert good.info.status == "FINISHED" and bad.info.status == "FAILED"
    assert good.data.tags[TAG_RUN_ID] == ok.run_id and bad.data.tags[TAG_RUN_ID] == failed.run_id
    assert good.data.tags[TAG_ASSET_KEY] == "models/good_model"
    assert good.data.tags["purpose"] == "test" and good.data.metrics["f1"] == 0.5
    assert mlflow.active_run() is None
    experiment = client.get_experiment_by_name("storeml-test")
    assert experiment.artifact_location.startswith("file://") and "artifacts" in experiment.artifact_location
    # Nothing in the run carries the store URL.
    assert not any("postgresql" in str(v) for v in {**good.data.tags, **good.data.params}.values())


def test_plain_context_manager_without_dagster(tracking: MlflowTracking) -> None:
    with pytest.raises(KeyError), tracking.start_run(None, run_name="raw") as run:
        raise KeyError("x")
    assert tracking.run_status(run.info.run_id) == "FAILED"
    with tracking.start_run(None, run_name="raw-ok") as run:
        pass
    assert tracking.run_status(run.info.run_id) == "FINISHED"


def test_register_promote_and_load_champion(tracking: MlflowTracking, tmp_path: Path) -> None:
    train = customer_frame(1500, seed=21)
    holdout = customer_frame(500, seed=22)
    model = train_model(train, label=LABEL, features=FEATURES, seed=4)
    result = evaluate(model, holdout, label=LABEL, features=FEATURES, segment_columns=SEGMENTS)

    assert tracking.champion_version("propensity") is None
    with tracking.start_run(None, run_name="candidate") as run:
        mlflow.log_metrics(result.metrics())
        tracking.log_files(evaluation_plots(result), artifact_path="evaluation")
        info, version = tracking.log_and_register(
            model, model_name="propensity", input_example=train[FEATURES.columns]
        )
    assert version == "1"
    assert tracking.challenger_version("propensity") == "1"
    assert tracking.champion_version("propensity") is None
    with pytest.raises(LookupError, match="champion"):
        tracking.load_champion("propensity")

    client = tracking.client()
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
    assert artifacts == {"evaluation/roc_curve.png", "evaluation/pr_curve.png", "evaluation/calibration_curve.png"}
    assert info.signature is not None
    assert [c.name for c in info.signature.inputs.inputs] == FEATURES.columns
    assert info.saved_input_example_info is not None

    tracking.promote("propensity", version)
    assert tracking.champion_version("propensity") == "1"
    loaded = tracking.load_champion("propensity")
    x = holdout[FEATURES.columns]
    np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x))
    assert decision_threshold(loaded) == decision_threshold(model)

    # A second candidate becomes challenger; the champion alias stays until promoted.
    with tracking.start_run(None, run_name="candidate-2"):
        _, second = tracking.log_and_register(model, model_name="propensity", input_example=x)
    assert second == "2"
    assert tracking.challenger_version("propensity") == "2"
    assert tracking.champion_version("propensity") == "1"
    # Model files live only under the configured artifact root.
    assert any((tmp_path / "artifacts").rglob("MLmodel"))


def test_secret_free_display_uri() -> None:
    resource = MlflowTracking(tracking_uri="postgresql://storeml:s3cret@db.example:5432/mlflow")
    assert resource.resolved_tracking_uri().startswith("postgresql+psycopg2://")
    assert "s3cret" not in resource.display_uri and "***" in resource.display_uri


def test_defaults_come_from_settings(isolated_env: dict[str, str], tmp_path: Path) -> None:
    resource = MlflowTracking()
    assert resource.resolved_tracking_uri() == sqlalchemy_url(isolated_env["mlflow"])
    location = resource.resolved_artifact_location()
    assert location == (tmp_path / "home" / "mlflow-artifacts").resolve().as_uri()
    assert (tmp_path / "home" / "mlflow-artifacts").is_dir()
    assert MlflowTracking(artifact_location="s3://bucket/mlflow").resolved_artifact_location() == "s3://bucket/mlflow"


def test_unreachable_store_fails_fast_without_password() -> None:
    from storeml_assets.db.locator import DatabaseUnreachableError

    resource = MlflowTracking(tracking_uri="postgresql://storeml:s3cret@127.0.0.1:1/mlflow")
    with pytest.raises(DatabaseUnreachableError) as caught, resource.start_run(None, run_name="never"):
        pass
    assert "s3cret" not in str(caught.value) and "127.0.0.1:1" in str(caught.value)


def test_tracking_uri_from_storeml_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """STOREML_MLFLOW_TRACKING_URI points storeml at a tracking server; an explicit field still wins."""
    monkeypatch.setenv("STOREML_MLFLOW_TRACKING_URI", "http://mlflow:5000")
    assert MlflowTracking().resolved_tracking_uri() == "http://mlflow:5000"
    explicit = MlflowTracking(tracking_uri="postgresql://u:secret@db:5432/mlflow")
    assert explicit.resolved_tracking_uri() == "postgresql+psycopg2://u:secret@db:5432/mlflow"
    assert "secret" not in explicit.display_uri
