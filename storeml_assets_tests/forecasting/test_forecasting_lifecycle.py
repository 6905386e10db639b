"""Demand forecasting through Dagster on real Postgres and MLflow: the candidate (metrics beside the seasonal
naive and the oracle, the forecast chart logged) -> six gates -> champion, loadable as
``models:/demand_forecast@champion`` and serving its stored forecast -> ``features.demand_forecast`` -> drift
rows; a storefront with too short a history skips the family with a reason.

The lifecycle runs the family with two candidates (AutoETS and the seasonal naive) to stay quick on the tiny
storefront; the full candidate set is measured in ``test_forecasting.py``.
"""

import re
from dataclasses import replace
from functools import partial

import dagster as dg
import mlflow
import pandas as pd
import pytest
import sqlalchemy as sa
from mlflow.tracking import MlflowClient

from storeml_assets.forecasting import family
from storeml_assets.forecasting.data import HORIZON
from storeml_assets.ml.mlflow_resource import MlflowTracking
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.settings import get_settings
from storeml_assets_tests.lifecycle.harness import family_job
from storeml_assets_tests.lifecycle.harness import materialized as _metadata
from storeml_assets_tests.lifecycle.harness import query_rows as _rows
from storeml_assets_tests.models.conftest import storefront, tracking

__all__ = ["storefront", "tracking"]

pytestmark = pytest.mark.slow

FAMILY = replace(family.FAMILY, fit=partial(family.fit, candidates=("AutoETS", "SeasonalNaive")))


def _job(tracking: MlflowTracking) -> dg.JobDefinition:
    return family_job(FAMILY, tracking)






def test_demand_forecast_is_trained_promoted_served_written_and_monitored(storefront: dict[str, str],
                                                                           tracking: MlflowTracking) -> None:
    url = storefront["storeml"]
    result = _job(tracking).execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert result.success
    candidate = _metadata(result, FAMILY.model_key)
    decision = _metadata(result, FAMILY.promotion_key)
    assert decision["action"] == "promote", decision["reasoning"]
    version = candidate["model_version"]
    assert tracking.alias_version(FAMILY.name, "champion") == version

    run = mlflow.get_run(candidate["mlflow_run_id"])
    assert {"wape", "mase", "bias", "coverage_80", "coverage_95", "baseline/seasonal_naive/wape",
            "oracle/wape"} <= set(run.data.metrics)
    assert run.data.metrics["wape"] < run.data.metrics["baseline/seasonal_naive/wape"]
    charts = [a.path for a in MlflowClient().list_artifacts(candidate["mlflow_run_id"], "evaluation")]
    assert "evaluation/forecast.png" in charts

    served = mlflow.pyfunc.load_model(f"models:/{FAMILY.name}@champion")
    top = _rows(url, "select p.category_id, sum(i.quantity) as units from raw.order_items i "
                     "join raw.products p using (product_id) group by 1 order by 2 desc limit 1")[0]
    answer = served.predict(pd.DataFrame({"series": [f"category:{top.category_id}"], "horizon": [7]}))
    assert len(answer) == 7 and (answer["lower_80"] <= answer["forecast"]).all()

    out = _rows(url, "select series, count(*) as n, min(lower_95) as low, max(model_version) as version, "
                     "count(distinct model_version) as versions from features.demand_forecast group by series")
    categories = _rows(url, "select count(distinct category_id) as n from raw.products")[0].n
    assert len(out) == categories + get_settings().forecast_top_n
    assert {(r.n, r.versions, r.version) for r in out} == {(HORIZON, 1, version)}
    assert min(r.low for r in out) >= 0
    drift = _rows(url, "select metric_name from mlops.monitoring_metrics "
                       "where model_name = 'demand_forecast' and metric_type = 'drift'")
    assert {"demand_level_shift", "weekly_profile_shift", "category_mix_shift"} <= {r.metric_name for r in drift}


def test_too_short_a_history_skips_the_family_with_a_reason(storefront: dict[str, str],
                                                           tracking: MlflowTracking) -> None:
    with PostgresResource(database="storeml").connect() as conn:
        conn.execute(sa.text("delete from raw.order_items where order_id in (select order_id from raw.orders "
                             "where ordered_at < (select max(ordered_at) - interval '60 days' from raw.orders))"))
        conn.execute(sa.text("delete from raw.orders where ordered_at < "
                             "(select max(ordered_at) - interval '60 days' from raw.orders)"))
    result = _job(tracking).execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert result.success
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert not {FAMILY.model_key, FAMILY.promotion_key, FAMILY.output_key} & materialized
    skips = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    reasons = [str(e.event_specific_data.asset_observation.metadata["skipped"].value) for e in skips]  # type: ignore[union-attr]
    assert len(reasons) == 1 and re.match(r"orders cover 6\d days < 140 \(demand forecasting", reasons[0]), reasons
