"""The recommendations family through Dagster on real Postgres and MLflow: the candidate (metrics beside both
popularity baselines and the oracle, the pyfunc model registered) -> six gates -> champion ->
``features.recommendations`` for every active customer -> drift rows; the served model answers the three
kinds of request."""


import dagster as dg
import mlflow
import pandas as pd
import pytest

from storeml_assets.ml.mlflow_resource import MlflowTracking
from storeml_assets.recommendations.family import FAMILY
from storeml_assets_tests.lifecycle.harness import family_defs
from storeml_assets_tests.lifecycle.harness import materialized as _metadata
from storeml_assets_tests.lifecycle.harness import query_rows as _rows
from storeml_assets_tests.models.conftest import storefront, tracking

pytestmark = pytest.mark.slow
__all__ = ["storefront", "tracking"]






def test_recommendations_are_trained_gated_promoted_written_and_served(storefront: dict[str, str],
                                                                       tracking: MlflowTracking) -> None:
    url = storefront["storeml"]
    defs = family_defs(FAMILY, tracking)
    result = defs.resolve_job_def(FAMILY.job_name).execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert result.success

    candidate = _metadata(result, FAMILY.model_key)
    decision = _metadata(result, FAMILY.promotion_key)
    assert decision["action"] == "promote", decision["reasoning"]
    version = candidate["model_version"]
    assert tracking.alias_version(FAMILY.name, "champion") == version
    run = mlflow.get_run(candidate["mlflow_run_id"])
    assert {"ndcg_at_10", "baseline/popularity/ndcg_at_10", "baseline/recent_popularity/ndcg_at_10",
            "oracle/ndcg_at_10", "coverage"} <= set(run.data.metrics)
    assert run.data.metrics["oracle/ndcg_at_10"] > run.data.metrics["baseline/popularity/ndcg_at_10"]

    served = mlflow.pyfunc.load_model(f"models:/{FAMILY.name}@champion")
    customer = _rows(url, "select user_id from raw.orders order by ordered_at limit 1")[0].user_id
    answer = served.predict(pd.DataFrame({"kind": ["customer", "basket", "similar"],
                                          "customer_id": [float(customer), float("nan"), float("nan")],
                                          "product_ids": ["", "1,2", ""], "product_id": [float("nan")] * 2 + [3.0]}))
    assert answer.groupby("request").size().tolist() == [10, 10, 10]

    out = _rows(url, "select customer_id, count(*) as n, min(rank) as first, max(rank) as last, "
                     "count(distinct model_version) as versions, max(model_version) as version "
                     "from features.recommendations group by customer_id")
    assert len(out) > 100
    assert {(r.n, r.first, r.last, r.versions, r.version) for r in out} == {(10, 1, 10, 1, version)}
    repeats = _rows(url, "select count(*) as n from features.recommendations r join raw.order_items i "
                         "on i.product_id = r.product_id join raw.orders o on o.order_id = i.order_id "
                         "and o.user_id = r.customer_id and o.status not in ('payment_failed', 'cancelled')")
    assert repeats[0].n == 0  # already-bought products are never recommended

    drift = _rows(url, "select metric_name from mlops.monitoring_metrics "
                       "where model_name = 'recommendations' and metric_type = 'drift'")
    assert {r.metric_name for r in drift} == {"drift_share", "interaction_mix_distance", "new_product_event_share",
                                              "popular_set_churn"}
