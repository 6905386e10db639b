"""Evidently drift summaries on synthetic frames with planted and without drift."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from storeml_assets.ml.drift import drift_summary, noise_floor
from storeml_assets_tests.ml.synthetic import CATEGORICAL, NUMERIC, customer_frame

COLUMNS = NUMERIC + CATEGORICAL  # 10 columns
PLANTED = {"recency_days": 0.4, "monetary": 0.4, "rating": -0.4}
BIG_SHIFT = {"recency_days": 1.0, "monetary": 1.0, "rating": -1.0}


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


def test_too_few_rows_give_no_verdict_instead_of_a_false_alarm(tmp_path) -> None:
    reference = customer_frame(150, seed=7)
    current = customer_frame(120, seed=8, shift=BIG_SHIFT)
    html = tmp_path / "drift.html"
    summary = drift_summary(reference, current, columns=COLUMNS, drift_share_threshold=0.3, min_rows=200,
                            html_path=html)
    assert not summary.judged and summary.drift_share is None and summary.dataset_drift is False
    assert summary.reason == "not enough data to judge drift (150 reference / 120 current rows < 200)"
    assert summary.drifted_columns == [] and summary.columns == {} and summary.drifted_count == 0
    assert summary.html_path is None and not html.exists()
    assert json.loads(json.dumps(summary.to_dict()))["reason"] == summary.reason
    # the same frames with a lower minimum are judged, and the planted shift shows
    judged = drift_summary(reference, current, columns=COLUMNS, drift_share_threshold=0.3, min_rows=100)
    assert judged.judged and set(BIG_SHIFT) <= set(judged.drifted_columns)
    assert judged.reason.startswith(f"drift share {judged.drift_share:.2f} ({judged.drifted_count} of 10 columns) >=")
    with pytest.raises(ValueError, match="min_rows"):
        drift_summary(reference, current, columns=COLUMNS, min_rows=0)


@pytest.mark.parametrize("seed", [0, 2, 3])
def test_small_samples_of_one_distribution_are_not_flagged(seed: int) -> None:
    # 250 skewed values per side: sampling noise alone moves the normed Wasserstein distance past 0.1,
    # so fixed 0.1 thresholds report dataset drift between two samples of one distribution
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame({f"x{i}": rng.lognormal(3.0, 1.0, 250) for i in range(6)})
    current = pd.DataFrame({f"x{i}": rng.lognormal(3.0, 1.0, 250) for i in range(6)})
    columns = list(reference.columns)
    fixed = drift_summary(reference, current, columns=columns, drift_share_threshold=0.3, noise_quantile=None)
    adaptive = drift_summary(reference, current, columns=columns, drift_share_threshold=0.3)
    assert fixed.dataset_drift  # the false alarm the noise floor removes
    assert adaptive.drifted_count <= 1 and not adaptive.dataset_drift
    for name, col in adaptive.columns.items():
        assert col.noise_floor is not None and col.noise_floor > 0.1  # noise at 250 rows exceeds 0.1
        assert col.threshold == pytest.approx(col.noise_floor) and col.score == pytest.approx(fixed.columns[name].score)
    assert all(col.threshold == 0.1 for col in fixed.columns.values())


def test_noise_floor_shrinks_with_the_sample_and_keeps_planted_drift() -> None:
    rng = np.random.default_rng(4)
    small = noise_floor(rng.normal(size=250), rng.normal(size=250))
    large = noise_floor(rng.normal(size=5000), rng.normal(size=5000))
    assert small > 0.1 > large > 0.0
    assert noise_floor(np.arange(300.0), np.arange(300.0)) == noise_floor(np.arange(300.0), np.arange(300.0))
    reference = customer_frame(250, seed=11)
    current = customer_frame(250, seed=12, shift=BIG_SHIFT)
    summary = drift_summary(reference, current, columns=NUMERIC, drift_share_threshold=0.3, min_rows=200)
    assert set(BIG_SHIFT) <= set(summary.drifted_columns)
    with pytest.raises(ValueError, match="values on both sides"):
        noise_floor(np.array([]), np.arange(3.0))
