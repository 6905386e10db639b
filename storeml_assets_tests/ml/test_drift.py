"""Evidently drift summaries on synthetic frames with planted and without drift."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from storeml_assets.ml.drift import drift_summary
from storeml_assets_tests.ml.synthetic import CATEGORICAL, NUMERIC, customer_frame

COLUMNS = NUMERIC + CATEGORICAL  # 10 columns
PLANTED = {"recency_days": 0.4, "monetary": 0.4, "rating": -0.4}


@pytest.mark.parametrize("seed", [0, 1])
def test_planted_drift_is_flagged(seed: int, tmp_path) -> None:
    reference = customer_frame(3000, seed=100 + seed)
    current = customer_frame(3000, seed=200 + seed, shift=PLANTED)
    html = tmp_path / "reports" / "drift.html"
    summary = drift_summary(reference, current, columns=COLUMNS, drift_share_threshold=0.25, html_path=html)

    assert set(PLANTED) <= set(summary.drifted_columns)
    assert len(set(summary.drifted_columns) - set(PLANTED)) <= 1
    assert summary.column_count == 10
    assert summary.drift_share == pytest.approx(len(summary.drifted_columns) / 10)
    assert summary.dataset_drift is True  # 0.3 >= 0.25
    for name in PLANTED:
        col = summary.columns[name]
        assert col.stattest == "wasserstein" and col.threshold == 0.1 and col.score > 0.25 and col.drifted
    assert summary.columns["channel"].stattest == "jensenshannon"
    assert summary.columns["channel"].column_type == "categorical"
    assert summary.html_path == html and html.stat().st_size > 10_000
    assert "<html" in html.read_text()[:2000].lower()
    json.dumps(summary.to_dict())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_drift_stays_below_threshold(seed: int) -> None:
    reference = customer_frame(3000, seed=300 + seed)
    current = customer_frame(3000, seed=400 + seed)
    summary = drift_summary(reference, current, columns=COLUMNS)
    assert summary.drift_share < 0.3
    assert summary.dataset_drift is False
    assert all(col.score < col.threshold for col in summary.columns.values() if not col.drifted)
    assert summary.html_path is None


def test_categorical_drift_is_flagged() -> None:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"channel": rng.choice(["web", "app", "email"], 2000, p=[0.5, 0.3, 0.2]),
                              "x": rng.normal(size=2000)})
    current = pd.DataFrame({"channel": rng.choice(["web", "app", "email"], 2000, p=[0.2, 0.3, 0.5]),
                            "x": rng.normal(size=2000)})
    summary = drift_summary(reference, current, columns=["channel", "x"])
    assert summary.drifted_columns == ["channel"]
    assert summary.drift_share == 0.5 and summary.dataset_drift is True  # 0.5 >= default 0.5


def test_dataset_drift_threshold_is_respected() -> None:
    reference = customer_frame(2000, seed=5)
    current = customer_frame(2000, seed=6, shift=PLANTED)
    assert drift_summary(reference, current, columns=COLUMNS, drift_share_threshold=0.5).dataset_drift is False
    assert drift_summary(reference, current, columns=COLUMNS, drift_share_threshold=0.3).dataset_drift is True


def test_bad_inputs_are_named() -> None:
    frame = customer_frame(100, seed=1)
    with pytest.raises(ValueError, match="nope"):
        drift_summary(frame, frame, columns=["nope"])
    with pytest.raises(ValueError, match="current frame is empty"):
        drift_summary(frame, frame.iloc[:0], columns=["rating"])
    with pytest.raises(ValueError, match="drift_share_threshold"):
        drift_summary(frame, frame, columns=["rating"], drift_share_threshold=0)
