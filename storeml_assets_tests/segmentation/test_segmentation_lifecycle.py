"""The customer-segmentation family through Dagster on real Postgres and MLflow: trained beside the RFM grid and
the planted personas, promoted by its six gates, loadable as ``models:/customer_segmentation@champion``,
``features.customer_segments`` written for every customer, drift recorded; too few orders skip it with a reason."""

from datetime import timedelta

import dagster as dg
import mlflow
import pandas as pd
import pytest
import sqlalchemy as sa

from storeml_assets.features.customer import build_customer_features
from storeml_assets.features.training import history_end
from storeml_assets.io.postgres_io_manager import store_frame
from storeml_assets.ml.mlflow_resource import MlflowTracking
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.segmentation.family import FAMILY
from storeml_assets_tests.features.frames import raw_frames, simulated
from storeml_assets_tests.lifecycle.harness import family_job
from storeml_assets_tests.lifecycle.harness import materialized as _metadata
from storeml_assets_tests.lifecycle.harness import query_rows as _rows
from storeml_assets_tests.models.conftest import storefront, tracking

__all__ = ["storefront", "tracking"]

pytestmark = pytest.mark.slow


@pytest.fixture
def features(storefront: dict[str, str]) -> dict[str, str]:
    """``features.customer_features`` of the storefront fixture's simulation, as its asset writes it, and the same
    features a month earlier as ``features.training_set`` (the drift reference)."""
    raw = raw_frames(simulated("tiny", 7, False))
    end = history_end(raw["orders"])
    store_frame(storefront["storeml"], "features", "customer_features", build_customer_features(raw, end))
    store_frame(storefront["storeml"], "features", "training_set",
                build_customer_features(raw, end - timedelta(days=30)))
    return storefront


def _job(tracking: MlflowTracking) -> dg.JobDefinition:
    return family_job(FAMILY, tracking)






def test_customer_segmentation_is_trained_promoted_served_written_and_monitored(features: dict[str, str],
                                                                              tracking: MlflowTracking) -> None:
    url = features["storeml"]
    result = _job(tracking).execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert result.success
    candidate = _metadata(result, FAMILY.model_key)
    decision = _metadata(result, FAMILY.promotion_key)
    assert decision["action"] == "promote", decision["reasoning"]
    version = candidate["model_version"]
    assert tracking.alias_version(FAMILY.name, "champion") == version
    assert "| segment | customers |" in candidate["evaluation"]

    run = mlflow.get_run(candidate["mlflow_run_id"])
    assert {"silhouette", "stability", "persona_ari", "baseline/rfm_quintile/persona_ari",
            "oracle/persona_ari"} <= set(run.data.metrics)
    assert run.data.metrics["persona_ari"] > run.data.metrics["baseline/rfm_quintile/persona_ari"]

    served = mlflow.pyfunc.load_model(f"models:/{FAMILY.name}@champion")
    answer = served.predict(pd.DataFrame({"customer_id": [1, 2, 3], "recency_days": [None, 3.0, None],
                                          "frequency": [0.0, 9.0, None], "monetary": [0.0, 1200.0, None],
                                          "tenure_days": [200.0, 300.0, None], "activity_p_alive": [0.2, 0.97, None]}))
    assert list(answer["segment"])[0] == "hibernating" and list(answer["segment"])[2] == "new"
    assert list(answer["customer_id"]) == [1, 2, 3]

    customers = _rows(url, "select count(*) as n from features.customer_features")[0].n
    out = _rows(url, "select segment, probability, model_version from features.customer_segments")
    assert len(out) == customers and {r.model_version for r in out} == {version}
    assert all(0 < r.probability <= 1 for r in out) and {"new", "hibernating"} <= {r.segment for r in out}
    drift = _rows(url, "select metric_name from mlops.monitoring_metrics "
                       "where model_name = 'customer_segmentation' and metric_type = 'drift'")
    assert {"frequency_ks", "lifecycle_mix_distance"} <= {r.metric_name for r in drift}


def test_too_few_orders_skip_the_family_with_a_reason(features: dict[str, str], tracking: MlflowTracking) -> None:
    with PostgresResource(database="storeml").connect() as conn:
        conn.execute(sa.text("delete from raw.orders where order_id > (select min(order_id) + 9 from raw.orders)"))
    result = _job(tracking).execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert result.success
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert not {FAMILY.model_key, FAMILY.promotion_key, FAMILY.output_key} & materialized
    skips = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    reasons = [str(e.event_specific_data.asset_observation.metadata["skipped"].value) for e in skips]  # type: ignore[union-attr]
    assert reasons == ["orders has 10 rows < 500 (customer segmentation needs customers and their orders)"]
