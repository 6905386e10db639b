"""The review-sentiment family through Dagster on real Postgres and MLflow: trained beside its baselines
and oracle, promoted by its six gates, loadable as ``models:/review_sentiment@champion`` (serving bad
input too), ``features.review_sentiment`` written, drift recorded; too few reviews skip it with a reason."""


import dagster as dg
import mlflow
import pandas as pd
import pytest
import sqlalchemy as sa

from storeml_assets.ml.mlflow_resource import MlflowTracking
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.sentiment.family import FAMILY
from storeml_assets_tests.lifecycle.harness import family_job
from storeml_assets_tests.lifecycle.harness import materialized as _metadata
from storeml_assets_tests.lifecycle.harness import query_rows as _rows
from storeml_assets_tests.models.conftest import storefront, tracking

__all__ = ["storefront", "tracking"]

pytestmark = pytest.mark.slow


def _job(tracking: MlflowTracking) -> dg.JobDefinition:
    return family_job(FAMILY, tracking)






def test_review_sentiment_is_trained_promoted_served_written_and_monitored(storefront: dict[str, str],
                                                                           tracking: MlflowTracking) -> None:
    url = storefront["storeml"]
    instance = dg.DagsterInstance.ephemeral()
    result = _job(tracking).execute_in_process(instance=instance)
    assert result.success
    candidate = _metadata(result, FAMILY.model_key)
    decision = _metadata(result, FAMILY.promotion_key)
    assert decision["action"] == "promote", decision["reasoning"]
    version = candidate["model_version"]
    assert tracking.alias_version(FAMILY.name, "champion") == version

    run = mlflow.get_run(candidate["mlflow_run_id"])
    assert {"macro_f1", "brier", "baseline/majority/macro_f1", "baseline/unigram_logreg/macro_f1",
            "oracle/macro_f1"} <= set(run.data.metrics)
    assert run.data.metrics["macro_f1"] > run.data.metrics["baseline/majority/macro_f1"]

    served = mlflow.pyfunc.load_model(f"models:/{FAMILY.name}@champion")
    answer = served.predict(pd.DataFrame({"title": ["Love it", None, ""],
                                          "body": ["Never disappointed, works perfectly.", "x" * 1_000_000, None]}))
    assert list(answer["sentiment"])[0] == "positive" and len(answer) == 3

    reviews = _rows(url, "select count(*) as n from raw.reviews")[0].n
    out = _rows(url, "select sentiment, p_negative + p_neutral + p_positive as total, model_version "
                     "from features.review_sentiment")
    assert len(out) == reviews and {r.model_version for r in out} == {version}
    assert all(abs(r.total - 1) < 1e-6 for r in out)
    drift = _rows(url, "select metric_name from mlops.monitoring_metrics "
                       "where model_name = 'review_sentiment' and metric_type = 'drift'")
    assert {"text_length_ks", "oov_rate_increase", "class_mix_distance"} <= {r.metric_name for r in drift}


def test_too_few_reviews_skip_the_family_with_a_reason(storefront: dict[str, str], tracking: MlflowTracking) -> None:
    with PostgresResource(database="storeml").connect() as conn:
        conn.execute(sa.text("delete from raw.reviews where review_id > (select min(review_id) + 9 from raw.reviews)"))
    result = _job(tracking).execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert result.success
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert not {FAMILY.model_key, FAMILY.promotion_key, FAMILY.output_key} & materialized
    skips = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    reasons = [str(e.event_specific_data.asset_observation.metadata["skipped"].value) for e in skips]  # type: ignore[union-attr]
    assert reasons == ["reviews has 10 rows < 200 (sentiment analysis needs reviews)"]
