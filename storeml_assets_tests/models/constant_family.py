"""A tiny second model family, for tests only: a constant baseline that predicts the training base rate.

It trains on the same training set as purchase propensity and goes through the same lifecycle; its
gates are loose enough for a constant score (ROC-AUC 0.5) to be promoted on a first attempt.
"""

from typing import Any

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier

from storeml_assets import keys
from storeml_assets.features.customer import LABEL
from storeml_assets.lifecycle.family import ModelFamily
from storeml_assets.ml.gates import GateConfig
from storeml_assets.ml.train import (
    THRESHOLD_ATTRIBUTE,
    EvaluationResult,
    FeatureSpec,
    evaluate,
    predict_scores,
)

SIGNATURE = ("orders_30d", "sessions_per_week")
SEGMENTS = ("tenure_band",)
_SPEC = FeatureSpec(numeric=list(SIGNATURE), categorical=[])


def train(rows: pd.DataFrame, seed: int) -> Any:
    """The base rate of the training labels, for every row (the threshold at it: every row predicted positive)."""
    model = DummyClassifier(strategy="prior", random_state=seed).fit(rows[list(SIGNATURE)], rows[LABEL].astype(int))
    setattr(model, THRESHOLD_ATTRIBUTE, float(model.class_prior_[1]))
    return model


def evaluate_holdout(model: Any, holdout: pd.DataFrame) -> EvaluationResult:
    return evaluate(model, holdout, label=LABEL, features=_SPEC, segment_columns=list(SEGMENTS))


def score(model: Any, rows: pd.DataFrame) -> np.ndarray:
    return predict_scores(model, rows, _SPEC)


FAMILY = ModelFamily(
    name="constant_baseline",
    description="Constant baseline (the training base rate), a second family for tests.",
    training_set_key=keys.TRAINING_SET_KEY,
    features_key=keys.CUSTOMER_FEATURES_KEY,
    label=LABEL,
    train=train,
    evaluate=evaluate_holdout,
    score=score,
    metrics={"f1": True, "brier": False, "roc_auc": True},
    gates=GateConfig(min_training_rows=10, f1_floor=0.0, roc_auc_floor=0.0, brier_max=0.5, drift_share_max=1.0,
                     segment_f1_floor=0.0, segment_f1_gap_max=1.0),
    drift_columns=SIGNATURE,
    segment_columns=SEGMENTS,
    signature=SIGNATURE,
    code_version="c1",
    params={"strategy": "prior"},
)
