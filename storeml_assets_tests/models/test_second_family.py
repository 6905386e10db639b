"""A second model family goes through the whole lifecycle on real Postgres and MLflow, beside purchase
propensity, with nothing but its declaration (storeml_assets_tests.models.constant_family) and the
domains' factories:

sensor (bootstrap: no champion) -> retraining job: features -> train -> MLflow -> ``challenger`` ->
six gates -> promote (``champion``, model version, decision) -> drift monitoring -> the sensor again
(no new data since the attempt: quiet) -> a retrain on the same data is rejected.
"""

from typing import Any

import dagster as dg
import pytest

from storeml_assets import mlops
from storeml_assets.features import definitions as features
from storeml_assets.keys import PURCHASE_PROPENSITY
from storeml_assets.lifecycle.registry import FAMILIES
from storeml_assets.models import definitions as models
from storeml_assets.monitoring import definitions as monitoring
from storeml_assets.monitoring.drift import build_drift_asset
from storeml_assets.monitoring.metrics import TriggerConfig
from storeml_assets.monitoring.sensors import build_retraining_sensor
from storeml_assets.promotion import definitions as promotion
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.sources.assets import build_source_assets
from storeml_assets.sources.checks import build_source_checks
from storeml_assets.warehouse.assets import WAREHOUSE_ASSETS
from storeml_assets.warehouse.checks import WAREHOUSE_CHECKS
from storeml_assets_tests.models.constant_family import FAMILY
from storeml_assets_tests.models.test_assets import _resources, _rows

pytestmark = pytest.mark.slow


def _defs(tracking: Any) -> dg.Definitions:
    families = [*FAMILIES, FAMILY]
    return dg.Definitions.merge(
        dg.Definitions(assets=[*build_source_assets(), *WAREHOUSE_ASSETS],
                       asset_checks=[*build_source_checks(), *WAREHOUSE_CHECKS], resources=_resources(tracking)),
        features.defs, models.build_defs(families), promotion.build_defs(families),
        monitoring.build_defs(families),
    )


def _tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None) -> Any:
    with dg.build_sensor_context(instance=instance, cursor=cursor,
                                 resources={"storeml_db": PostgresResource(database="storeml")}) as context:
        return sensor.evaluate_tick(context)


def _metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict[str, Any]:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    assert events, f"{key.to_user_string()} was not materialized"
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


def test_a_constant_baseline_family_goes_through_the_whole_lifecycle(storefront: dict[str, str], tracking: Any) -> None:
    url = storefront["storeml"]
    defs = _defs(tracking)
    instance = dg.DagsterInstance.ephemeral()
    assert {s.name for s in defs.sensors} == {"retraining_sensor", "constant_baseline_retraining_sensor"}
    assert defs.resolve_schedule_def("constant_baseline_weekly_retraining_schedule").job_name == FAMILY.job_name
    monitoring_job = defs.resolve_job_def("monitoring_job")
    assert FAMILY.drift_key in monitoring_job.asset_layer.executable_asset_keys
    job = defs.resolve_job_def("constant_baseline_retraining_job")
    assert set(job.asset_layer.executable_asset_keys) == {
        FAMILY.features_key, FAMILY.training_set_key, FAMILY.model_key, FAMILY.promotion_key}

    # the family's sensor: no champion yet -> one run of the family's retraining job
    sensor = build_retraining_sensor(FAMILY, TriggerConfig(drift_share_threshold=0.3, new_orders_share=0.5,
                                                            max_model_age_days=30))
    assert sensor.name == "constant_baseline_retraining_sensor"
    first = _tick(sensor, instance, None)
    assert [r.job_name for r in first.run_requests] in ([None], [FAMILY.job_name])
    assert sensor.job_name == FAMILY.job_name

    run = job.execute_in_process(instance=instance, tags=first.run_requests[0].tags)
    assert run.success
    candidate = _metadata(run, FAMILY.model_key)
    assert candidate["registry_alias"] == "challenger"
    assert candidate["roc_auc"] == pytest.approx(0.5)
    assert candidate["higher_is_better"] == {"f1": True, "brier": False, "roc_auc": True}
    decision = _metadata(run, FAMILY.promotion_key)
    assert decision["action"] == "promote", decision["reasoning"]
    assert decision["gate/no_regression"]["reason"] == "no champion"
    version = candidate["model_version"]
    assert tracking.champion_version(FAMILY.name) == version
    assert tracking.champion_version(PURCHASE_PROPENSITY) is None
    assert _rows(url, "select model_name, status, mlflow_run_id from mlops.model_versions") == [
        (FAMILY.name, "production", candidate["mlflow_run_id"])]
    assert _rows(url, "select model_name, action from mlops.retraining_decisions") == [(FAMILY.name, "promote")]

    # drift monitoring of the family: its drift columns, its champion's coverage, rows under its name
    drift = dg.materialize([build_drift_asset(FAMILY)], instance=instance,
                           resources=_resources(tracking))
    assert drift.success
    figures = _metadata(drift, FAMILY.drift_key)
    assert figures["champion_version"] == version
    assert figures["scored_share"] == pytest.approx(1.0)
    with PostgresResource(database="storeml").connect() as conn:
        latest = mlops.latest_drift(conn, FAMILY.name)
        assert latest is not None and latest["model_version"] == version
        assert mlops.latest_drift(conn, PURCHASE_PROPENSITY) is None

    # the sensor again: the attempt saw every order, so nothing new to learn from
    quiet = _tick(sensor, instance, first.cursor)
    assert not quiet.run_requests
    assert quiet.skip_message.startswith("no new data since the last training attempt v" + version)

    # a retrain on the same data is judged against the champion and rejected
    again = job.execute_in_process(instance=instance)
    rejected = _metadata(again, FAMILY.promotion_key)
    assert rejected["action"] == "reject"
    assert "not a new model" in rejected["gate/no_regression"]["reason"]
    assert tracking.champion_version(FAMILY.name) == version
