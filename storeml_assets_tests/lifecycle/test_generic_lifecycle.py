"""A family in its own terms goes through the generic lifecycle on real Postgres and MLflow:
candidate (MLflow run, pyfunc model, ``challenger``) -> six gates -> ``champion`` -> output table -> drift
rows; a retrain on the same data is rejected; a table below its minimum skips the family and nothing else."""

from datetime import UTC, datetime
from typing import Any

import dagster as dg
import mlflow
import pytest
import sqlalchemy as sa

from storeml_assets.lifecycle.generic import Skip, require_rows
from storeml_assets.lifecycle.summary import family_lines
from storeml_assets.ml.mlflow_resource import MlflowTracking
from storeml_assets.monitoring.metrics import TriggerConfig
from storeml_assets.monitoring.sensors import build_retraining_sensor
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets_tests.lifecycle.harness import family_defs
from storeml_assets_tests.lifecycle.harness import materialized as _metadata
from storeml_assets_tests.lifecycle.harness import query_rows as _rows
from storeml_assets_tests.lifecycle.toy_family import FAMILY

pytestmark = pytest.mark.slow


def _defs(tracking: MlflowTracking) -> dg.Definitions:
    return family_defs(FAMILY, tracking)


def _tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None) -> Any:
    with dg.build_sensor_context(instance=instance, cursor=cursor,
                                 resources={"storeml_db": PostgresResource(database="storeml")}) as context:
        return sensor.evaluate_tick(context)






def test_a_generic_family_is_trained_judged_promoted_served_and_monitored(storefront: dict[str, str],
                                                                          tracking: MlflowTracking) -> None:
    url = storefront["storeml"]
    defs = _defs(tracking)
    job = defs.resolve_job_def(FAMILY.job_name)
    assert set(job.asset_layer.executable_asset_keys) == {FAMILY.model_key, FAMILY.promotion_key,
                                                          FAMILY.output_key, FAMILY.drift_key}
    assert {defs.resolve_assets_def(k).group_names_by_key[k] for k in job.asset_layer.executable_asset_keys} == {
        "order_value"}
    instance = dg.DagsterInstance.ephemeral()
    started = datetime.now(UTC)

    # the shared retraining sensor: no champion yet -> one run of the family's job
    sensor = build_retraining_sensor(FAMILY, TriggerConfig(drift_share_threshold=0.3, new_orders_share=0.5,
                                                            max_model_age_days=30))
    assert sensor.name == "order_value_retraining_sensor" and sensor.job_name == FAMILY.job_name
    tick = _tick(sensor, instance, None)
    assert len(tick.run_requests) == 1

    first = job.execute_in_process(instance=instance, tags=tick.run_requests[0].tags)
    assert first.success
    quiet = _tick(sensor, instance, tick.cursor)
    assert not quiet.run_requests and "no new data since the last training attempt" in quiet.skip_message
    candidate = _metadata(first, FAMILY.model_key)
    decision = _metadata(first, FAMILY.promotion_key)
    assert decision["action"] == "promote", decision["reasoning"]
    assert "bootstrap" in decision["reasoning"]
    assert "training_mean" in candidate["metrics_vs_baselines"]
    version = candidate["model_version"]
    assert tracking.alias_version(FAMILY.name, "champion") == version

    # the MLflow run holds the metrics beside the baseline; the model loads as pyfunc and predicts
    run = mlflow.get_run(candidate["mlflow_run_id"])
    assert {"mae", "baseline/training_mean/mae"} <= set(run.data.metrics)
    served = mlflow.pyfunc.load_model(f"models:/{FAMILY.name}@champion")
    import pandas as pd
    assert len(served.predict(pd.DataFrame({"channel": ["web", "no-such-channel"]}))) == 2

    out = _rows(url, "select channel, expected_order_value, model_version from features.order_value_estimates")
    assert out and {r.model_version for r in out} == {version}
    status = _rows(url, "select model_name, champion_version, primary_metric, champion_primary_value "
                        "from mlops.v_family_status where model_name = 'order_value'")
    assert [(r.champion_version, r.primary_metric) for r in status] == [(version, "mae")]
    assert status[0].champion_primary_value == pytest.approx(candidate["mae"])
    drift = _rows(url, "select metric_name, metric_value from mlops.monitoring_metrics "
                       "where model_name = 'order_value' and metric_type = 'drift'")
    assert {r.metric_name for r in drift} == {"drift_share", "mean_order_value_shift"}
    metrics = _rows(url, "select metric_name, is_primary from mlops.v_model_metrics where model_name = 'order_value'")
    assert ("mae", True) in [(r.metric_name, r.is_primary) for r in metrics]

    # the run summary's line: version, the headline metric beside the baseline, the decision
    with PostgresResource(database="storeml").connect() as conn:
        lines = family_lines(conn, instance, started, classic=(), generic=(FAMILY,))
    assert [(line.family, line.version, line.decision) for line in lines] == [("order_value", version, "promote")]
    assert lines[0].metrics.startswith("mae ") and "(training_mean " in lines[0].metrics
    assert lines[0].drift.startswith("drift ") and lines[0].text().endswith(lines[0].drift)

    # the same data and code again: a new version, rejected by no_regression, the champion stays
    second = job.execute_in_process(instance=instance)
    assert second.success
    again = _metadata(second, FAMILY.promotion_key)
    assert again["action"] == "reject"
    assert "no_regression" in again["failed_gates"] and "exactly the data of champion" in again["reasoning"]
    assert tracking.alias_version(FAMILY.name, "champion") == version

    # a gate threshold from the run config: an impossible MAE ceiling rejects a candidate on new data
    with PostgresResource(database="storeml").connect() as conn:
        conn.execute(sa.text("delete from raw.orders where order_id in (select order_id from raw.orders "
                             "order by ordered_at desc limit 5)"))
    strict = job.execute_in_process(instance=instance, run_config={"ops": {
        "promotion__order_value_decision": {"config": {"thresholds": {"mae_max": 0.0}}}}})
    verdict = _metadata(strict, FAMILY.promotion_key)
    assert verdict["action"] == "reject" and "performance_floor" in verdict["failed_gates"]


def test_a_table_below_its_minimum_skips_the_family_and_says_why(storefront: dict[str, str],
                                                                 tracking: MlflowTracking) -> None:
    with PostgresResource(database="storeml").connect() as conn:
        conn.execute(sa.text("delete from raw.orders where order_id > (select min(order_id) + 9 from raw.orders)"))
    defs = _defs(tracking)
    instance = dg.DagsterInstance.ephemeral()
    started = datetime.now(UTC)
    result = defs.resolve_job_def(FAMILY.job_name).execute_in_process(instance=instance)
    assert result.success
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert FAMILY.model_key not in materialized and FAMILY.promotion_key not in materialized
    assert FAMILY.output_key not in materialized
    skips = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    reasons = [str(e.event_specific_data.asset_observation.metadata["skipped"].value) for e in skips]  # type: ignore[union-attr]
    assert reasons == ["orders has 10 rows < 200 (order-value estimates need orders)"]
    drift = _metadata(result, FAMILY.drift_key)
    assert drift["skipped"] == reasons[0]
    with PostgresResource(database="storeml").connect() as conn:
        lines = family_lines(conn, instance, started, classic=(), generic=(FAMILY,))
    assert [line.text() for line in lines] == [f"order_value          skipped: {reasons[0]}"]


def test_a_rejected_first_candidate_leaves_no_champion_and_the_output_says_why(storefront: dict[str, str],
                                                                               tracking: MlflowTracking) -> None:
    result = _defs(tracking).resolve_job_def(FAMILY.job_name).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"promotion__order_value_decision": {"config": {"thresholds": {"mae_max": 0.0}}}}})
    assert result.success
    assert _metadata(result, FAMILY.promotion_key)["action"] == "reject"
    assert FAMILY.output_key not in {e.asset_key for e in result.get_asset_materialization_events()}
    observed = [e.event_specific_data.asset_observation for e in result.all_events  # type: ignore[union-attr]
                if e.event_type_value == "ASSET_OBSERVATION"]
    assert [o.asset_key for o in observed] == [FAMILY.output_key]
    assert str(observed[0].metadata["skipped"].value).startswith("order_value has no champion yet")


def test_require_rows_names_the_table_its_count_and_the_purpose() -> None:
    import polars as pl

    with pytest.raises(Skip, match=r"^reviews is missing \(sentiment analysis needs reviews\)$"):
        require_rows({}, "reviews", 200, "sentiment analysis needs reviews")
    with pytest.raises(Skip, match=r"^reviews has 3 rows < 200 \(sentiment"):
        require_rows({"reviews": pl.DataFrame({"a": [1, 2, 3]})}, "reviews", 200, "sentiment analysis needs reviews")
    frame = pl.DataFrame({"a": list(range(5))})
    assert require_rows({"reviews": frame}, "reviews", 5, "x") is frame
