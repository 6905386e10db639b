"""The served-prediction assets of the families in their own terms, materialized on a migrated database with a
real prediction log: volume, latency percentiles per request, the served class mix against the previous
window (segments row by row; the recommendations' source inside requests logged as one prediction), the
served-input drift of the families that declare their inputs (segmentation's customer features, sentiment's
text lengths) against their training data; and their place in the monitoring group and job."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import numpy as np
import pytest
import sqlalchemy as sa

from storeml_assets.db.urls import sqlalchemy_url
from storeml_assets.forecasting.family import FAMILY as FORECAST
from storeml_assets.keys import MONITORING_GROUP, MONITORING_JOB_NAME
from storeml_assets.lifecycle.generic import GenericFamily
from storeml_assets.lifecycle.registry import GENERIC_FAMILIES
from storeml_assets.mlops.predictions import PredictionRow, insert_predictions
from storeml_assets.monitoring.served import NO_PREDICTIONS, build_generic_served_asset
from storeml_assets.recommendations.family import FAMILY as RECOMMENDATIONS
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.segmentation.family import FAMILY as SEGMENTATION
from storeml_assets.segmentation.model import INPUT_COLUMNS
from storeml_assets.sentiment.family import FAMILY as SENTIMENT
from storeml_assets_tests.monitoring.helpers import execute, insert_model_version, migrate_storeml

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _write(url: str, rows: Sequence[PredictionRow]) -> None:
    engine = sa.create_engine(sqlalchemy_url(url))
    try:
        with engine.begin() as conn:
            insert_predictions(conn, rows)
    finally:
        engine.dispose()


def _segments(segments: Sequence[str], at: datetime) -> list[PredictionRow]:
    """One request per customer, the i-th answered in i + 1 ms."""
    return [PredictionRow(family=SEGMENTATION.name, model_name=SEGMENTATION.name, model_version="2",
                          input={"customer_id": i, "frequency": 3.0},
                          output={"customer_id": i, "segment": segment, "probability": 0.9}, confidence=None,
                          latency_ms=float(i + 1), request_id=f"seg-{at:%H%M}-{i}", timestamp=at + timedelta(seconds=i))
            for i, segment in enumerate(segments)]


def _recommendations(sources: Sequence[str], at: datetime) -> list[PredictionRow]:
    """One request per source, logged as one prediction holding its ten rows."""
    return [PredictionRow(family=RECOMMENDATIONS.name, model_name=RECOMMENDATIONS.name, model_version="5",
                          input={"instances": [{"kind": "customer", "customer_id": i, "product_ids": ""}]},
                          output={"rows": [{"request": 0, "kind": "customer", "rank": r, "product_id": r,
                                            "score": 1.0 / r, "source": source} for r in range(1, 11)],
                                  "confidence": None},
                          confidence=None, latency_ms=10.0 * (i + 1), request_id=f"rec-{at:%H%M}-{i}",
                          timestamp=at + timedelta(seconds=i))
            for i, source in enumerate(sources)]


def _materialize(families: Sequence[GenericFamily], window_end: datetime) -> dict[str, dict[str, Any]]:
    """Each family's materialization metadata."""
    assets = [build_generic_served_asset(family) for family in families]
    ops = {"ops": {f"monitoring__{family.name}_served": {"config": {"window_end": window_end.isoformat()}}
                   for family in families}}
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(assets, resources={"storeml_db": PostgresResource(database="storeml")},
                                instance=instance, run_config=ops)
        assert result.success
        return {event.asset_key.path[-1].removesuffix("_served"): event.materialization.metadata
                for event in result.get_asset_materialization_events()}


def _figures(url: str, family: GenericFamily) -> dict[str, float]:
    rows = execute(url, "select metric_name, metric_value from mlops.monitoring_metrics where model_name = %s "
                        "order by id", (family.name,))
    return {name: value for name, value in rows}


def test_generic_served_assets_measure_volume_latency_and_class_mix(isolated_env) -> None:
    url = migrate_storeml()
    insert_model_version(url, name=SEGMENTATION.name, version="2", status="production", created_at=END,
                         promoted_at=END - timedelta(days=3))
    # previous window: every customer loyal, every recommendation from the model; current window: half the
    # customers hibernating (100 requests of 1..100 ms), one recommendation request in three from popularity
    _write(url, _segments(["loyal"] * 80, END - timedelta(hours=30)))
    _write(url, _segments(["loyal", "hibernating"] * 50, END - timedelta(hours=3)))
    _write(url, _recommendations(["model"] * 4, END - timedelta(hours=30)))
    _write(url, _recommendations(["model", "model", "popularity"], END - timedelta(hours=2)))
    _write(url, _segments(["new"] * 5, END + timedelta(minutes=1)))  # after the window: not counted

    meta = _materialize([SEGMENTATION, RECOMMENDATIONS, FORECAST], END)

    segments = _figures(url, SEGMENTATION)
    assert segments["served_volume"] == 100 and meta[SEGMENTATION.name]["served_requests"].value == 100
    assert segments["served_latency_p50"] == pytest.approx(50.5)
    assert segments["served_latency_p99"] == pytest.approx(np.percentile(np.arange(1, 101), 99))
    assert segments["served_class_share:hibernating"] == pytest.approx(0.5)
    assert segments["served_class_mix_shift"] == pytest.approx(0.5)
    # no features.customer_features to compare with: no served-input drift verdict
    assert not any(name.startswith("served_drift") for name in segments)
    assert meta[SEGMENTATION.name]["champion_version"].value == "2"
    assert meta[SEGMENTATION.name]["class_mix"].value == {"hibernating": 0.5, "loyal": 0.5}
    assert execute(url, "select distinct model_version, metadata ->> 'class_column' from mlops.monitoring_metrics "
                        "where model_name = %s", (SEGMENTATION.name,)) == [("2", "segment")]

    recommendations = _figures(url, RECOMMENDATIONS)
    assert recommendations["served_volume"] == 3  # three requests, each logged as one prediction
    assert recommendations["served_latency_p50"] == pytest.approx(20.0)
    assert recommendations["served_class_share:popularity"] == pytest.approx(1 / 3)
    assert recommendations["served_class_mix_shift"] == pytest.approx(1 / 3)
    assert meta[RECOMMENDATIONS.name]["champion_version"].value == "none"

    forecast = _figures(url, FORECAST)
    assert forecast == {"served_volume": 0.0}
    assert meta[FORECAST.name]["verdict"].value == NO_PREDICTIONS


def test_without_a_previous_window_the_mix_is_recorded_without_a_shift(isolated_env) -> None:
    url = migrate_storeml()
    _write(url, _segments(["champions", "at risk", "at risk", "new"], END - timedelta(hours=1)))
    _materialize([SEGMENTATION], END)
    figures = _figures(url, SEGMENTATION)
    assert figures["served_volume"] == 4
    assert figures["served_class_share:at risk"] == pytest.approx(0.5)
    assert "served_class_mix_shift" not in figures


def test_every_generic_family_has_a_served_asset_in_the_monitoring_group_and_job() -> None:
    from storeml_assets.definitions import build_definitions

    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    job = defs.resolve_job_def(MONITORING_JOB_NAME)
    for family in GENERIC_FAMILIES:
        assert graph.get(family.served_key).group_name == MONITORING_GROUP
        assert family.served_key in job.asset_layer.executable_asset_keys
        assert family.promotion_key in graph.get(family.served_key).parent_keys


def _customer_features(rng: np.random.Generator, n: int, scale: float = 1.0) -> list[dict[str, float]]:
    return [{"recency_days": float(rng.exponential(30.0 * scale)), "frequency": float(rng.poisson(3.0 * scale) + 1),
             "monetary": float(rng.gamma(2.0, 80.0 * scale)), "tenure_days": float(rng.uniform(30, 400)),
             "activity_p_alive": float(rng.beta(4, 2))} for _ in range(n)]


def test_served_inputs_are_compared_with_the_training_data(isolated_env) -> None:
    url = migrate_storeml()
    rng = np.random.default_rng(7)
    # the training data: customer features at two cutoffs (the newest is the reference) and reviews
    execute(url, "create table features.customer_features (customer_id bigint, cutoff timestamptz, "
                 + ", ".join(f"{c} double precision" for c in INPUT_COLUMNS) + ")")
    for cutoff, scale in (("2026-10-01", 5.0), ("2026-11-01", 1.0)):
        for i, row in enumerate(_customer_features(rng, 600, scale)):
            execute(url, f"insert into features.customer_features values (%s, %s, {', '.join(['%s'] * len(row))})",
                    (i, cutoff, *row.values()))
    execute(url, "create table raw.reviews (review_id bigint, title text, body text, created_at timestamptz)")
    words = ["good", "fine", "bad", "fast", "late", "nice", "broken", "great"]
    for i in range(600):
        body = " ".join(rng.choice(words, size=int(rng.integers(5, 25))))
        execute(url, "insert into raw.reviews values (%s, %s, %s, %s)", (i, "ok", body, END - timedelta(days=i % 60)))

    def segment_rows(features: list[dict[str, float]], at: datetime, tag: str) -> list[PredictionRow]:
        return [PredictionRow(family=SEGMENTATION.name, model_name=SEGMENTATION.name, model_version="2",
                              input={"customer_id": i, **f}, output={"customer_id": i, "segment": "loyal"},
                              confidence=None, latency_ms=1.0, request_id=f"{tag}-{i}", timestamp=at)
                for i, f in enumerate(features)]

    def review_rows(bodies: list[str], at: datetime) -> list[PredictionRow]:
        return [PredictionRow(family=SENTIMENT.name, model_name=SENTIMENT.name, model_version="1",
                              input={"title": "ok", "body": body}, output={"sentiment": "positive"},
                              confidence=0.9, latency_ms=1.0, request_id=f"rev-{i}", timestamp=at)
                for i, body in enumerate(bodies)]

    # this window: customers like the newest cutoff's; reviews five times longer than the trained ones
    _write(url, segment_rows(_customer_features(rng, 300), END - timedelta(hours=2), "now"))
    _write(url, review_rows([" ".join(rng.choice(words, size=int(rng.integers(60, 120)))) for _ in range(300)],
                            END - timedelta(hours=1)))
    meta = _materialize([SEGMENTATION, SENTIMENT], END)

    segments, reviews = _figures(url, SEGMENTATION), _figures(url, SENTIMENT)
    assert segments["served_drift_share"] == pytest.approx(0.0), meta[SEGMENTATION.name]["served_drift_verdict"]
    assert set(meta[SEGMENTATION.name]["served_drifted_columns"].value) == set()
    assert reviews["served_drift_share"] >= 2 / 3  # body characters and words
    assert {"body_chars", "body_words"} <= set(meta[SENTIMENT.name]["served_drifted_columns"].value)

    # the next window: the served customers now look like the older cutoff's (five times the spend and gaps)
    later = END + timedelta(days=1)
    _write(url, segment_rows(_customer_features(rng, 300, 5.0), later - timedelta(hours=2), "later"))
    meta = _materialize([SEGMENTATION], later)
    shares = execute(url, "select metric_value from mlops.monitoring_metrics where model_name = %s "
                          "and metric_name = 'served_drift_share' order by id", (SEGMENTATION.name,))
    assert shares[-1][0] >= 0.6, meta[SEGMENTATION.name]["served_drift_verdict"]
