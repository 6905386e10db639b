"""Model training and evaluation on a synthetic frame with a known logistic propensity."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from storeml_assets.ml.train import (
    FeatureSpec,
    build_pipeline,
    decision_threshold,
    evaluate,
    evaluation_curves,
    evaluation_plots,
    flip_labels,
    train_model,
)
from storeml_assets_tests.ml.synthetic import FEATURES, LABEL, PROPENSITY, SEGMENTS, customer_frame


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return customer_frame(4000, seed=1), customer_frame(3000, seed=2)


@pytest.fixture(scope="module")
def trained(frames):
    train, holdout = frames
    model = train_model(train, label=LABEL, features=FEATURES, seed=7)
    result = evaluate(model, holdout, label=LABEL, features=FEATURES, segment_columns=SEGMENTS,
                      propensity_column=PROPENSITY)
    return model, result


def test_model_auc_close_to_oracle(trained) -> None:
    _, result = trained
    assert result.oracle_roc_auc is not None and 0.75 < result.oracle_roc_auc < 0.9
    assert result.roc_auc >= 0.95 * result.oracle_roc_auc
    assert result.roc_auc <= result.oracle_roc_auc + 0.02
    assert 0.0 < result.brier < 0.2
    assert result.f1 > 0.55 and result.pr_auc > 0.6
    # The recorded metrics agree with the raw scores.
    assert result.n == 3000 and result.positives == int(result.y_true.sum())
    predicted = result.y_score >= result.threshold
    tp = int((predicted & (result.y_true == 1)).sum())
    assert result.precision == pytest.approx(tp / predicted.sum())
    assert result.recall == pytest.approx(tp / result.positives)


def test_threshold_is_chosen_and_stored(trained, frames) -> None:
    model, result = trained
    stored = decision_threshold(model)
    assert 0.05 < stored < 0.95 and stored != 0.5
    assert result.threshold == stored
    # The stored F1-maximizing threshold beats the naive 0.5 on this (imbalanced) holdout.
    _, holdout = frames
    naive = evaluate(model, holdout, label=LABEL, features=FEATURES, segment_columns=[], threshold=0.5)
    assert naive.threshold == 0.5 and result.f1 > naive.f1
    assert naive.roc_auc == result.roc_auc


def test_segment_f1(trained, frames) -> None:
    _, result = trained
    _, holdout = frames
    assert set(result.segment_f1) == {"channel", "tenure_band"}
    channel = result.segment_f1["channel"]
    assert set(channel) == {"web", "app", "email"}
    assert sum(s["n"] for s in channel.values()) == len(holdout)
    assert channel["app"]["n"] == int((holdout["channel"] == "app").sum())
    assert all(0.0 < s["f1"] <= 1.0 for s in channel.values())
    json.dumps(result.to_dict())  # serializable


def test_training_is_deterministic(frames) -> None:
    train, holdout = frames
    small = train.iloc[:1500]
    a = train_model(small, label=LABEL, features=FEATURES, seed=3)
    b = train_model(small, label=LABEL, features=FEATURES, seed=3)
    x = holdout[FEATURES.columns].iloc[:200]
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
    assert decision_threshold(a) == decision_threshold(b)


def test_unseen_category_and_missing_values_are_scored(trained, frames) -> None:
    model, _ = trained
    _, holdout = frames
    odd = holdout.iloc[:5].copy()
    odd.loc[odd.index[0], "channel"] = "carrier-pigeon"
    odd.loc[odd.index[1], "monetary"] = np.nan
    scores = model.predict_proba(odd[FEATURES.columns])[:, 1]
    assert np.all((scores >= 0) & (scores <= 1))


def test_evaluation_figures_in_range(trained) -> None:
    _, result = trained
    curves = evaluation_curves(result)
    for arrays in curves.values():
        for values in arrays.values():
            assert len(values) > 2 and np.all((values >= 0) & (values <= 1))
    assert curves["roc"]["fpr"][0] == 0 and curves["roc"]["tpr"][-1] == 1
    # Calibrated: each quantile bin's observed rate within 0.1 of its mean prediction.
    cal = curves["calibration"]
    assert np.max(np.abs(cal["mean_predicted"] - cal["fraction_positive"])) < 0.1
    plots = evaluation_plots(result)
    assert set(plots) == {"roc_curve.png", "pr_curve.png", "calibration_curve.png"}
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000 for png in plots.values())


def test_flip_labels_flips_exact_share(frames) -> None:
    train, _ = frames
    flipped = flip_labels(train, LABEL, 0.4, seed=5)
    changed = (flipped[LABEL] != train[LABEL]).sum()
    assert changed == round(0.4 * len(train))
    assert flipped[LABEL].isin([0, 1]).all()
    assert (train.drop(columns=LABEL) == flipped.drop(columns=LABEL)).all().all()
    with pytest.raises(ValueError, match="share"):
        flip_labels(train, LABEL, 1.5, seed=5)


def test_bad_inputs_are_named(frames) -> None:
    train, _ = frames
    with pytest.raises(ValueError, match="'nope'"):
        train_model(train, label="nope", features=FEATURES, seed=1)
    with pytest.raises(ValueError, match="missing_col"):
        train_model(train, label=LABEL, features=FeatureSpec(numeric=["missing_col"]), seed=1)
    bad = train.assign(**{LABEL: 2})
    with pytest.raises(ValueError, match="0/1"):
        train_model(bad, label=LABEL, features=FEATURES, seed=1)
    with pytest.raises(ValueError, match="both numeric and categorical"):
        FeatureSpec(numeric=["a"], categorical=["a"])


def test_build_pipeline_is_unfitted_and_seeded() -> None:
    pipe = build_pipeline(["a"], ["b"], seed=11)
    assert pipe.named_steps["model"].estimator.random_state == 11
    assert pipe.named_steps["model"].cv == 3
