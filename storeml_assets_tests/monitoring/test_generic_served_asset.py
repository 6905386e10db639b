"""The served-prediction assets of the families in their own terms, materialized on a migrated database with a
real prediction log: volume, latency percentiles per request, the served class mix against the previous
window (segments row by row; the recommendations' source inside requests logged as one prediction), no
served-input drift; and their place in the monitoring group and job."""

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
    assert not any(name.startswith("served_drift") for name in segments)  # no served-input drift for them
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
