"""Materialize monitoring/served_predictions on a migrated database with a real prediction log and training set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import numpy as np
import polars as pl
import pytest
import sqlalchemy as sa

from storeml_assets.db.urls import sqlalchemy_url
from storeml_assets.io.pg_tables import replace_table
from storeml_assets.mlops.predictions import PredictionRow, insert_predictions
from storeml_assets.models.purchase_propensity import FAMILY
from storeml_assets.monitoring.served import NO_PREDICTIONS, build_served_asset
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets_tests.monitoring.helpers import execute, insert_model_version, migrate_storeml

served_predictions = build_served_asset(FAMILY)
END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CUTOFF_A = datetime(2026, 10, 1, tzinfo=UTC)
CUTOFF_B = datetime(2026, 10, 15, tzinfo=UTC)
COLUMNS = [c for c in FAMILY.drift_columns if c in FAMILY.signature]


def _features(rng: np.random.Generator, n: int, shift: float) -> dict[str, np.ndarray]:
    return {c: rng.normal(10.0 + shift, 1.0, n) for c in COLUMNS}


def _write_training_set(url: str, rng: np.random.Generator) -> None:
    """Training rows at CUTOFF_A (the champion's) near 10, and at CUTOFF_B (not the champion's) near 30."""
    parts = []
    for cutoff, shift in ((CUTOFF_A, 0.0), (CUTOFF_B, 20.0)):
        frame = pl.DataFrame({**_features(rng, 300, shift), "split": ["train"] * 300, "cutoff": [cutoff] * 300,
                              "purchased_next_30d": [0, 1] * 150})
        parts.append(frame)
    replace_table(url, "features", "training_set", pl.concat(parts).to_arrow())


def _log(url: str, rng: np.random.Generator, *, n: int, at: datetime, shift: float, score_shift: float) -> None:
    features = _features(rng, n, shift)
    rows = []
    for i in range(n):
        score = float(np.clip(rng.normal(0.3 + score_shift, 0.05), 0.0, 1.0))
        instance = {c: float(features[c][i]) for c in COLUMNS}
        rows.append(PredictionRow(
            family=FAMILY.name, model_name=FAMILY.name, model_version="3", input=instance,
            output={"prediction": int(score >= 0.5), "score": score, "confidence": max(score, 1 - score)},
            confidence=max(score, 1 - score), latency_ms=float(i + 1), request_id=f"req-{at:%H%M}-{i}",
            timestamp=at + timedelta(seconds=i),
        ))
    engine = sa.create_engine(sqlalchemy_url(url))
    try:
        with engine.begin() as conn:
            insert_predictions(conn, rows)
    finally:
        engine.dispose()


def _materialize(window_end: datetime) -> dict:
    config = {"ops": {"monitoring__served_predictions": {"config": {"window_end": window_end.isoformat(),
                                                                    "min_rows": 50}}}}
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([served_predictions], resources={"storeml_db": PostgresResource(database="storeml")},
                                instance=instance, run_config=config)
    assert result.success
    return result.get_asset_materialization_events()[0].materialization.metadata


def _metrics(url: str) -> dict[str, float | None]:
    rows = execute(url, "select metric_name, metric_value from mlops.monitoring_metrics "
                        "where metric_name like 'served_%' order by id")
    return {name: value for name, value in rows}


def test_served_predictions_measures_the_log_against_the_champion_training_rows(isolated_env) -> None:
    url = migrate_storeml()
    rng = np.random.default_rng(7)
    _write_training_set(url, rng)
    insert_model_version(url, version="3", status="production", created_at=CUTOFF_B, promoted_at=CUTOFF_B,
                         metadata={"train_cutoffs": CUTOFF_A.date().isoformat()})
    # previous window: scores near 0.3; current window: 100 predictions like the champion's training rows,
    # scores near 0.7 (a score shift and a class-mix shift, no input drift)
    _log(url, rng, n=100, at=END - timedelta(hours=30), shift=0.0, score_shift=0.0)
    _log(url, rng, n=100, at=END - timedelta(hours=3), shift=0.0, score_shift=0.4)

    meta = _materialize(END)
    figures = _metrics(url)
    assert meta["served_volume"].value == 100 and figures["served_volume"] == 100
    assert meta["served_requests"].value == 100
    assert figures["served_latency_p50"] == pytest.approx(50.5)  # latencies 1..100 ms
    assert figures["served_latency_p99"] == pytest.approx(np.percentile(np.arange(1, 101), 99))
    assert meta["served_drift_share"].value == 0.0  # compared with CUTOFF_A's rows only
    assert figures["served_drift_share"] == 0.0
    assert figures["served_score_psi"] > 0.25
    assert figures["served_class_mix_shift"] == pytest.approx(1.0)
    assert figures["served_class_share:1"] == pytest.approx(1.0)
    assert meta["served_versions"].value == {"3": 100}
    assert meta["champion_version"].value == "3"
    rows = execute(url, "select metric_type, model_version from mlops.monitoring_metrics "
                        "where metric_name = 'served_drift_share'")
    assert rows == [("drift", "3")]
    # the sensor's drift trigger reads drift_share rows only: the served figures do not feed it
    assert execute(url, "select count(*) from mlops.monitoring_metrics where metric_name = 'drift_share'") == [(0,)]

    # inputs far from the champion's training rows: every compared column drifts
    later = END + timedelta(days=2)
    _log(url, rng, n=100, at=later - timedelta(hours=2), shift=20.0, score_shift=0.4)
    meta = _materialize(later)
    assert meta["served_drift_share"].value == 1.0
    assert set(meta["served_drifted_columns"].value) == set(COLUMNS)


def test_latency_percentiles_count_each_request_once(isolated_env) -> None:
    """A request of 99 rows at 900 ms and one of 1 row at 10 ms: two requests, median between them."""
    url = migrate_storeml()
    rows = [PredictionRow(family=FAMILY.name, model_name=FAMILY.name, model_version="1", input={},
                          output={"prediction": 0, "score": 0.2}, confidence=0.8,
                          latency_ms=900.0 if i < 99 else 10.0, request_id="big" if i < 99 else "small",
                          timestamp=END - timedelta(minutes=5)) for i in range(100)]
    engine = sa.create_engine(sqlalchemy_url(url))
    try:
        with engine.begin() as conn:
            insert_predictions(conn, rows)
    finally:
        engine.dispose()
    meta = _materialize(END)
    assert meta["served_volume"].value == 100 and meta["served_requests"].value == 2
    assert meta["latency_p50_ms"].value == pytest.approx(455.0)


def test_served_predictions_with_an_empty_log_records_no_predictions(isolated_env) -> None:
    url = migrate_storeml()
    meta = _materialize(END)
    assert meta["verdict"].value == NO_PREDICTIONS
    assert meta["served_volume"].value == 0
    rows = execute(url, "select metric_type, metric_name, metric_value, metadata ->> 'verdict' "
                        "from mlops.monitoring_metrics")
    assert rows == [("performance", "served_volume", 0.0, NO_PREDICTIONS)]
