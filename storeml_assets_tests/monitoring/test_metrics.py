"""Pure monitoring functions: metric rows, score shift, windows, retraining triggers and the cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from storeml_assets.ml.drift import ColumnDrift, DriftSummary
from storeml_assets.monitoring import metrics as m

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
CONFIG = m.TriggerConfig(drift_share_threshold=0.3, new_orders_share=0.5, max_model_age_days=30)


def _summary() -> DriftSummary:
    cols = {
        "a": ColumnDrift("a", "numeric", "wasserstein", 0.42, 0.1, True),
        "b": ColumnDrift("b", "numeric", "wasserstein", 0.03, 0.1, False),
    }
    return DriftSummary(0.5, 1, 2, True, 0.3, ["a"], cols, 100, 120, Path("/tmp/r.html"))


def _champion(version: str = "2", *, age_days: float = 1, rows: int = 1000) -> m.ChampionState:
    return m.ChampionState("purchase_propensity", version, f"run-{version}", rows,
                           NOW - timedelta(days=age_days + 1), NOW - timedelta(days=age_days))


def test_drift_rows_one_per_column_and_a_summary() -> None:
    rows = m.drift_metric_rows(_summary(), model_name="p", model_version="2", context={"current_cutoff": "x"})
    assert [r.metric_name for r in rows] == ["drift_score:a", "drift_score:b", "drift_share"]
    assert all(r.metric_type == "drift" for r in rows)
    assert rows[0].metadata == {"column": "a", "column_type": "numeric", "stattest": "wasserstein",
                                "threshold": 0.1, "drifted": True, "current_cutoff": "x"}
    assert rows[2].metric_value == 0.5 and rows[2].metadata["drifted_columns"] == ["a"]
    assert '"html_path": "/tmp/r.html"' in rows[2].params()["metadata"]
    table = m.drift_markdown(_summary())
    assert table.splitlines()[2].startswith("| a | wasserstein | 0.4200")


def test_metric_row_rejects_unknown_type_and_nan() -> None:
    with pytest.raises(ValueError, match="bogus"):
        m.MetricRow("bogus", "x", 1.0)
    assert m.MetricRow("coverage", "x", float("nan")).params()["metric_value"] is None


def test_psi_and_wasserstein() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.beta(2, 5, 5000), rng.beta(2, 5, 5000)
    shifted = rng.beta(5, 2, 5000)
    assert m.population_stability_index(a, b) < 0.02
    assert m.population_stability_index(a, shifted) > 1.0
    assert m.wasserstein_distance(a, b) < 0.02 < 0.3 < m.wasserstein_distance(a, shifted)
    assert m.population_stability_index(np.full(10, 0.5), np.full(10, 0.5)) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="reference scores are empty"):
        m.population_stability_index([], [0.1])


def test_coverage_figures_and_rows() -> None:
    current = np.array([0.1, 0.2, np.nan, 0.4])
    figures = m.coverage_figures(np.array([0.1, 0.2, 0.3]), current, active_customers=5)
    assert figures.scored_customers == 3 and figures.scored_share == pytest.approx(0.6)
    assert figures.score_psi is not None and figures.score_mean_reference == pytest.approx(0.2)
    rows = m.coverage_metric_rows(figures, model_name="p", model_version="1")
    assert {r.metric_name for r in rows} == {"scored_share", "score_psi", "score_wasserstein",
                                              "score_mean_reference", "score_mean_current"}
    assert all(r.metric_type == "coverage" for r in rows)
    assert m.coverage_figures(None, np.array([]), 0).scored_share == 0.0


def test_windows() -> None:
    orders = pl.DataFrame({"ordered_at": [datetime(2026, 10, 30, 8, tzinfo=UTC), datetime(2026, 10, 31, 23, tzinfo=UTC)]})
    current = m.latest_cutoff(orders)
    assert current == datetime(2026, 11, 1, tzinfo=UTC)
    assert m.reference_cutoff(current, None, 30) == datetime(2026, 10, 2, tzinfo=UTC)
    assert m.reference_cutoff(current, datetime(2026, 9, 1), 30) == datetime(2026, 9, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="no orders"):
        m.latest_cutoff(orders.clear())


def test_drift_trigger_fires_once_per_row() -> None:
    state = m.MonitoringState(NOW, m.DriftObservation(7, 0.5), _champion(), new_orders=0)
    fired, cursor = m.evaluate_triggers(state, m.SensorCursor(), CONFIG)
    assert [t.run_key for t in fired] == ["drift:7"] and cursor.drift_metric_id == 7
    assert m.evaluate_triggers(state, cursor, CONFIG)[0] == []
    low = m.MonitoringState(NOW, m.DriftObservation(8, 0.3), _champion(), new_orders=0)  # equal: not above
    fired, cursor2 = m.evaluate_triggers(low, cursor, CONFIG)
    assert fired == [] and cursor2.drift_metric_id == 8
    row = m.evaluate_triggers(state, m.SensorCursor(), CONFIG)[0][0].metric_row()
    assert row.metric_type == "trigger" and row.metric_name == "trigger:drift" and row.metadata["run_key"] == "drift:7"


def test_new_data_fires_at_each_multiple_of_the_share() -> None:
    cursor = m.SensorCursor()
    keys = []
    for new_orders in (400, 600, 700, 1100, 1100):
        state = m.MonitoringState(NOW, None, _champion(rows=1000), new_orders=new_orders)
        fired, cursor = m.evaluate_triggers(state, cursor, CONFIG)
        keys.append([t.run_key for t in fired])
    assert keys == [[], ["new_data:2:1"], [], ["new_data:2:2"], []]
    # a new champion starts over
    fired, _ = m.evaluate_triggers(m.MonitoringState(NOW, None, _champion("3", rows=1000), new_orders=600), cursor, CONFIG)
    assert [t.run_key for t in fired] == ["new_data:3:1"]


def test_model_age_and_bootstrap() -> None:
    old = m.MonitoringState(NOW, None, _champion(age_days=31))
    fired, cursor = m.evaluate_triggers(old, m.SensorCursor(), CONFIG)
    assert [t.run_key for t in fired] == ["model_age:2:1"] and fired[0].value == pytest.approx(31)
    assert m.evaluate_triggers(old, cursor, CONFIG)[0] == []
    older = m.MonitoringState(NOW, None, _champion(age_days=61))
    assert [t.run_key for t in m.evaluate_triggers(older, cursor, CONFIG)[0]] == ["model_age:2:2"]
    assert m.evaluate_triggers(m.MonitoringState(NOW, None, _champion(age_days=29)), m.SensorCursor(), CONFIG)[0] == []

    none = m.MonitoringState(NOW, m.DriftObservation(3, 0.9), None, latest_order_at=datetime(2026, 11, 19, 5))
    fired, cursor = m.evaluate_triggers(none, m.SensorCursor(), CONFIG)
    assert [t.kind for t in fired] == ["bootstrap", "drift"]
    assert m.combined_run_key(fired) == "bootstrap:2026-11-19+drift:3"
    tags = m.trigger_tags(fired)
    assert tags["storeml/trigger"] == "bootstrap,drift" and tags["storeml/trigger.drift.value"] == "0.9"
    assert m.evaluate_triggers(none, cursor, CONFIG)[0] == []
    assert m.evaluate_triggers(none, m.SensorCursor(), m.TriggerConfig(bootstrap=False))[0][0].kind == "drift"
    assert m.evaluate_triggers(m.MonitoringState(NOW, None, None), m.SensorCursor(), CONFIG)[0] == []


def test_cursor_round_trip_and_errors() -> None:
    cursor = m.SensorCursor(12, {"drift": "drift:12", "new_data": "new_data:2:1"})
    assert m.SensorCursor.from_json(cursor.to_json()) == cursor
    assert m.SensorCursor.from_json(None) == m.SensorCursor() == m.SensorCursor.from_json("")
    with pytest.raises(ValueError, match="malformed retraining sensor cursor"):
        m.SensorCursor.from_json("not json")
    with pytest.raises(ValueError, match="new_orders_share"):
        m.TriggerConfig(new_orders_share=0)
