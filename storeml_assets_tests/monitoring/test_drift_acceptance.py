"""Feature drift on the simulator: planted drift is flagged, no drift stays below the retraining threshold.

Features are built with the production feature code at a cutoff on the drift cut-over (the window
before it) and at the end of the history (the window after it), at ``small`` scale (5,000
customers; at ``tiny`` the 500-customer windows sit within sampling noise of the 0.1 threshold).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storeml_assets.ml.drift import drift_summary
from storeml_assets.ml.gates import GateConfig
from storeml_assets.models.features import DRIFT_FEATURES, build_customer_features
from storeml_assets.monitoring.assets import MONITORED_FEATURES
from storeml_assets.synthetic.simulator import SimulationConfig, simulate
from storeml_assets_tests.monitoring.helpers import raw_frames_from_simulation

THRESHOLD = GateConfig().drift_share_max


def _summary(drift: bool, seed: int):
    cfg = SimulationConfig(scale="small", drift=drift, seed=seed)
    frames = raw_frames_from_simulation(simulate(cfg))
    before = datetime.combine(cfg.cutover, datetime.min.time(), tzinfo=UTC)
    after = datetime.combine(cfg.end_date + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    reference = build_customer_features(frames, before).select(MONITORED_FEATURES).to_pandas()
    current = build_customer_features(frames, after).select(MONITORED_FEATURES).to_pandas()
    return drift_summary(reference, current, columns=MONITORED_FEATURES, drift_share_threshold=THRESHOLD)


@pytest.mark.parametrize("seed", [42, 7])
def test_planted_drift_is_flagged(seed: int) -> None:
    summary = _summary(True, seed)
    assert set(DRIFT_FEATURES) <= set(summary.drifted_columns)
    assert len(set(summary.drifted_columns) - set(DRIFT_FEATURES)) <= 1
    assert summary.drift_share > THRESHOLD and summary.dataset_drift


@pytest.mark.parametrize("seed", [42, 7])
def test_no_drift_stays_below_the_retraining_threshold(seed: int) -> None:
    summary = _summary(False, seed)
    assert summary.drift_share < THRESHOLD and not summary.dataset_drift
    assert max(col.score for col in summary.columns.values()) < 0.1
