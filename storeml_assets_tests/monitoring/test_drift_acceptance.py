"""The drift story on the simulator, through the code the gate and the monitoring asset run.

The demo's drift run trains on the history before the drift cut-over (training cutoffs 90 and 60
days before it, the first with less than 90 days of history behind it) and then monitors the end
of the drifted history against the champion's training cutoffs. Both comparisons are
:func:`storeml_assets.features.customer.customer_drift` (the one drift column set over the active
customers): without drift the gate ``data_drift`` passes, and the end of the history stays below
the retraining threshold; with drift the planted columns, and only they, are flagged. At ``tiny``
(~650 reference / ~350 current rows) as at ``small``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from storeml_assets.features.customer import (
    DRIFT_COLUMNS,
    DRIFT_FEATURES,
    build_customer_features,
    customer_drift,
)
from storeml_assets.features.training import SPLIT, TRAIN, build_training_set, plan_cutoffs
from storeml_assets.ml import gates
from storeml_assets.ml.drift import DriftSummary
from storeml_assets.ml.gates import GateConfig
from storeml_assets.synthetic.simulator import SimulationConfig, simulate
from storeml_assets_tests.monitoring.helpers import raw_frames_from_simulation

THRESHOLD = GateConfig().drift_share_max


def _midnight(day) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def _story(scale: str, drift: bool, seed: int) -> tuple[DriftSummary, DriftSummary]:
    """(the first model's gate comparison, the monitoring comparison at the end of the history)."""
    cfg = SimulationConfig(scale=scale, drift=drift, seed=seed)
    frames = raw_frames_from_simulation(simulate(cfg))
    first_end = _midnight(cfg.cutover)  # the first period: every event before the cut-over
    plan = plan_cutoffs(first_end, train_cutoffs=2, horizon_days=30)
    training = build_training_set(frames, plan).filter(pl.col(SPLIT) == TRAIN)
    gate = customer_drift(training, build_customer_features(frames, first_end), drift_share_threshold=THRESHOLD)
    end = build_customer_features(frames, _midnight(cfg.end_date + timedelta(days=1)))
    monitoring = customer_drift(training, end, drift_share_threshold=THRESHOLD)
    return gate, monitoring


@pytest.mark.parametrize(("scale", "seed"), [("tiny", 42), ("tiny", 7), ("tiny", 3), ("small", 42)])
def test_drift_story(scale: str, seed: int) -> None:
    gate, drifted = _story(scale, True, seed)
    verdict = gates.data_drift(gate, THRESHOLD)
    assert gate.judged and verdict.passed, verdict.reason  # the pre-drift champion is promoted
    assert gate.drift_share is not None and gate.drift_share <= 1 / len(DRIFT_COLUMNS)
    assert drifted.judged and set(drifted.drifted_columns) == set(DRIFT_FEATURES)
    assert drifted.drift_share == pytest.approx(len(DRIFT_FEATURES) / len(DRIFT_COLUMNS))
    assert drifted.dataset_drift and drifted.drift_share > THRESHOLD  # the sensor's threshold
    assert drifted.reference_rows >= 200 and drifted.current_rows >= 200


@pytest.mark.parametrize(("scale", "seed"), [("tiny", 42), ("tiny", 11), ("small", 7)])
def test_no_drift_stays_below_the_retraining_threshold(scale: str, seed: int) -> None:
    gate, end = _story(scale, False, seed)
    assert gates.data_drift(gate, THRESHOLD).passed
    assert end.judged and end.drift_share is not None and end.drift_share < THRESHOLD and not end.dataset_drift
    assert len(end.drifted_columns) <= 1
