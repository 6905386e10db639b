"""Pure monitoring functions: metric rows, score shift, windows, retraining triggers and the cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from storeml_assets.features.training import DataBasis
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


HWM = datetime(2026, 11, 19, 21, 30, tzinfo=UTC)


def _attempt(version: str = "2", *, rows: int = 1000, hwm: datetime = HWM, orders: int = 5000,
             code: str = "1", cfg: str | None = None, status: str = "production") -> m.AttemptState:
    return m.AttemptState("purchase_propensity", version, status, rows, DataBasis(hwm, orders, code, cfg))


def _state(*, drift: m.DriftObservation | None = None, champion: m.ChampionState | None = None,
           attempt: m.AttemptState | None = None, latest: datetime | None = HWM, orders: int = 5000,
           new_orders: int | None = 0, code: str = "1") -> m.MonitoringState:
    return m.MonitoringState(NOW, drift, champion, new_orders=new_orders, latest_order_at=latest,
                             attempt=attempt, order_count=orders, code_version=code)


def test_nothing_fires_on_the_data_the_last_attempt_saw() -> None:
    seen = _attempt(status="archived")
    # drift, volume and age all say "retrain", but the newest attempt saw exactly these orders
    state = _state(drift=m.DriftObservation(7, 0.9), champion=_champion(age_days=45), attempt=seen, new_orders=0)
    fired, cursor = m.evaluate_triggers(state, m.SensorCursor(), CONFIG)
    assert fired == [] and cursor.drift_metric_id == 7 and cursor.last_run_key == ""
    assert m.unchanged_since_attempt(state, CONFIG) == (
        "no new data since the last training attempt v2 (archived; HWM 2026-11-19 21:30:00, 5,000 orders, "
        "code version 1)")
    # an attempt launched by the sensor with other thresholds, or other code, gives a reason (once per state)
    for changed in (_attempt(cfg="other", status="archived"), _attempt(code="0", status="archived")):
        fired, _ = m.evaluate_triggers(_state(champion=_champion(age_days=45), attempt=changed), m.SensorCursor(), CONFIG)
        assert [t.kind for t in fired] == ["model_age"]
    same_cfg = _attempt(cfg=CONFIG.fingerprint(), status="archived")
    assert m.evaluate_triggers(_state(champion=_champion(age_days=45), attempt=same_cfg), m.SensorCursor(), CONFIG)[0] == []


def test_drift_fires_once_per_row_on_new_data() -> None:
    later = HWM + timedelta(hours=5)
    state = _state(drift=m.DriftObservation(7, 0.5), champion=_champion(), attempt=_attempt(), latest=later,
                   orders=5010, new_orders=10)
    fired, cursor = m.evaluate_triggers(state, m.SensorCursor(), CONFIG)
    key = m.basis_key(state.current_basis(CONFIG))
    assert key == f"retrain:2026-11-20T02:30:00.000000Z:5010:code1:cfg{CONFIG.fingerprint()}"
    assert [t.run_key for t in fired] == [f"drift:7@{key}"] and cursor.drift_metric_id == 7
    assert m.combined_run_key(fired) == key and cursor.last_run_key == key
    assert m.evaluate_triggers(state, cursor, CONFIG)[0] == []
    low = _state(drift=m.DriftObservation(8, 0.3), champion=_champion(), attempt=_attempt(), latest=later,
                 orders=5011, new_orders=11)  # equal: not above
    fired, cursor2 = m.evaluate_triggers(low, cursor, CONFIG)
    assert fired == [] and cursor2.drift_metric_id == 8
    row = m.evaluate_triggers(state, m.SensorCursor(), CONFIG)[0][0].metric_row()
    assert row.metric_type == "trigger" and row.metric_name == "trigger:drift" and row.metadata["run_key"] == f"drift:7@{key}"


def test_new_data_is_measured_against_the_newest_attempt() -> None:
    cursor = m.SensorCursor()
    keys = []
    for new_orders in (400, 600, 600):
        state = _state(champion=_champion(), attempt=_attempt(rows=1000), latest=HWM + timedelta(days=1),
                       orders=5000 + new_orders, new_orders=new_orders)
        fired, cursor = m.evaluate_triggers(state, cursor, CONFIG)
        keys.append([t.kind for t in fired])
        if fired:
            assert fired[0].value == pytest.approx(0.6) and fired[0].figures["attempt_version"] == "2"
    assert keys == [[], ["new_data"], []]
    # the attempt that run made (rejected) saw those orders: quiet, whatever the cursor says
    retrained = _attempt("3", rows=1000, hwm=HWM + timedelta(days=1), orders=5600, status="archived")
    after = _state(champion=_champion(), attempt=retrained, latest=HWM + timedelta(days=1), orders=5600)
    assert m.evaluate_triggers(after, m.SensorCursor(), CONFIG)[0] == []


def test_model_age_and_bootstrap() -> None:
    old = _state(champion=_champion(age_days=31), attempt=_attempt(), latest=HWM + timedelta(hours=1), orders=5001,
                 new_orders=1)
    fired, cursor = m.evaluate_triggers(old, m.SensorCursor(), CONFIG)
    assert [t.kind for t in fired] == ["model_age"] and fired[0].value == pytest.approx(31)
    assert m.evaluate_triggers(old, cursor, CONFIG)[0] == []
    young = _state(champion=_champion(age_days=29), attempt=_attempt(), latest=HWM + timedelta(hours=1), orders=5001)
    assert m.evaluate_triggers(young, m.SensorCursor(), CONFIG)[0] == []

    none = _state(drift=m.DriftObservation(3, 0.9), latest=datetime(2026, 11, 19, 5), new_orders=None)
    fired, cursor = m.evaluate_triggers(none, m.SensorCursor(), CONFIG)
    assert [t.kind for t in fired] == ["bootstrap", "drift"]
    key = m.combined_run_key(fired)
    assert key.startswith("retrain:2026-11-19T05:00:00.000000Z:5000:")
    tags = m.trigger_tags(fired, CONFIG)
    assert tags["storeml/trigger"] == "bootstrap,drift" and tags["storeml/trigger.drift.value"] == "0.9"
    assert tags["storeml/trigger.config"] == CONFIG.fingerprint()
    assert m.evaluate_triggers(none, cursor, CONFIG)[0] == []
    assert m.evaluate_triggers(none, m.SensorCursor(), m.TriggerConfig(bootstrap=False))[0][0].kind == "drift"
    assert m.evaluate_triggers(_state(latest=None, orders=0), m.SensorCursor(), CONFIG)[0] == []
    # a rejected bootstrap candidate is not retried on the same data; one more order is a reason
    rejected = _attempt("1", hwm=datetime(2026, 11, 19, 5, tzinfo=UTC), status="archived")
    assert m.evaluate_triggers(_state(attempt=rejected, latest=datetime(2026, 11, 19, 5)), m.SensorCursor(), CONFIG)[0] == []
    more = _state(attempt=rejected, latest=datetime(2026, 11, 20, 5), orders=5001, new_orders=1)
    assert [t.kind for t in m.evaluate_triggers(more, m.SensorCursor(), CONFIG)[0]] == ["bootstrap"]


def test_cursor_round_trip_and_errors() -> None:
    cursor = m.SensorCursor(12, {"drift": "drift:12@retrain:x", "new_data": "new_data@retrain:x"}, "retrain:x")
    assert m.SensorCursor.from_json(cursor.to_json()) == cursor
    assert m.SensorCursor.from_json(None) == m.SensorCursor() == m.SensorCursor.from_json("")
    with pytest.raises(ValueError, match="malformed retraining sensor cursor"):
        m.SensorCursor.from_json("not json")
    with pytest.raises(ValueError, match="new_orders_share"):
        m.TriggerConfig(new_orders_share=0)


def _served(metric_id: int, share: float | None) -> m.ServedDriftObservation:
    return m.ServedDriftObservation(metric_id, share, NOW - timedelta(hours=1), "2")


def _with_served(state: m.MonitoringState, served: m.ServedDriftObservation | None) -> m.MonitoringState:
    return m.MonitoringState(state.now, state.latest_drift, state.champion, new_orders=state.new_orders,
                             latest_order_at=state.latest_order_at, attempt=state.attempt,
                             order_count=state.order_count, code_version=state.code_version,
                             latest_served_drift=served)


def test_served_drift_fires_once_per_row_on_new_data() -> None:
    later = HWM + timedelta(hours=5)
    base = _state(champion=_champion(), attempt=_attempt(), latest=later, orders=5010, new_orders=10)
    assert m.evaluate_triggers(base, m.SensorCursor(), CONFIG)[0] == []  # nothing else says "retrain"
    state = _with_served(base, _served(41, 0.6))
    fired, cursor = m.evaluate_triggers(state, m.SensorCursor(), CONFIG)
    key = m.basis_key(state.current_basis(CONFIG))
    assert [t.kind for t in fired] == ["served_drift"] and fired[0].run_key == f"served_drift:41@{key}"
    assert fired[0].value == pytest.approx(0.6) and fired[0].threshold == pytest.approx(0.3)
    assert cursor.served_drift_metric_id == 41 and cursor.drift_metric_id == 0 and cursor.last_run_key == key
    assert m.combined_run_key(fired) == key
    row = fired[0].metric_row()
    assert row.metric_name == "trigger:served_drift" and row.metric_value == pytest.approx(0.6)
    assert row.metadata["served_drift_metric_id"] == 41 and row.metadata["run_key"] == f"served_drift:41@{key}"
    tags = m.trigger_tags(fired, CONFIG)
    assert tags["storeml/trigger"] == "served_drift" and tags["storeml/trigger.served_drift.value"] == "0.6"
    assert tags["storeml/trigger.served_drift.threshold"] == "0.3" and tags["storeml/trigger.served_drift.metric_id"] == "41"
    # the same row, from the stored cursor or after a restart that kept it: not twice
    assert m.evaluate_triggers(state, cursor, CONFIG)[0] == []
    restored = m.SensorCursor.from_json(cursor.to_json())
    assert restored == cursor
    more = _with_served(_state(champion=_champion(), attempt=_attempt(), latest=later + timedelta(hours=1),
                               orders=5011, new_orders=11), _served(41, 0.6))
    assert m.evaluate_triggers(more, restored, CONFIG)[0] == []  # new orders, but no new served row
    # a newer served row at the threshold does not fire, one above it does (new data again)
    at = _with_served(more, _served(42, 0.3))
    fired, cursor = m.evaluate_triggers(at, restored, CONFIG)
    assert fired == [] and cursor.served_drift_metric_id == 42
    fired, _ = m.evaluate_triggers(_with_served(more, _served(43, 0.5)), cursor, CONFIG)
    assert [t.run_key for t in fired] == [f"served_drift:43@{m.basis_key(more.current_basis(CONFIG))}"]


def test_served_drift_on_the_data_the_last_attempt_saw_does_not_fire() -> None:
    seen = _with_served(_state(champion=_champion(), attempt=_attempt(), new_orders=0), _served(41, 0.9))
    fired, cursor = m.evaluate_triggers(seen, m.SensorCursor(), CONFIG)
    assert fired == [] and cursor.served_drift_metric_id == 41 and cursor.last_run_key == ""
    assert m.unchanged_since_attempt(seen, CONFIG) is not None
    assert m.served_drift_above(seen, CONFIG) == "served-input drift share 0.900 (row 41) > 0.3"


def test_a_null_served_drift_share_never_fires() -> None:
    later = HWM + timedelta(hours=5)
    state = _with_served(_state(champion=_champion(), attempt=_attempt(), latest=later, orders=5010, new_orders=10),
                         _served(41, None))
    fired, cursor = m.evaluate_triggers(state, m.SensorCursor(), CONFIG)
    assert fired == [] and cursor.served_drift_metric_id == 41 and cursor.last_run_key == ""
    assert m.served_drift_above(state, CONFIG) is None
    # with feature drift on the same evaluation only the feature drift fires
    both = m.MonitoringState(NOW, m.DriftObservation(7, 0.5), _champion(), new_orders=10, latest_order_at=later,
                             attempt=_attempt(), order_count=5010, code_version="1",
                             latest_served_drift=_served(41, None))
    assert [t.kind for t in m.evaluate_triggers(both, m.SensorCursor(), CONFIG)[0]] == ["drift"]


def test_an_old_cursor_without_the_served_drift_id_still_parses() -> None:
    old = '{"drift_metric_id": 5, "fired": {"drift": "drift:5@retrain:x"}, "last_run_key": "retrain:x"}'
    assert m.SensorCursor.from_json(old) == m.SensorCursor(5, {"drift": "drift:5@retrain:x"}, "retrain:x", 0)
