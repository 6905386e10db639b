"""The purchase-propensity family: will a customer order within 30 days of a cutoff (calibrated gradient boosting)."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from storeml_assets import keys
from storeml_assets.features.customer import (
    CUSTOMER_ID,
    CUTOFF,
    DRIFT_COLUMNS,
    FEATURE_SPEC,
    LABEL,
    SEGMENT_COLUMNS,
)
from storeml_assets.features.training import oracle_comparison, to_model_frame
from storeml_assets.lifecycle.family import ModelFamily
from storeml_assets.ml.gates import GateConfig
from storeml_assets.ml.train import EvaluationResult, evaluate, predict_scores, train_model

_TRUTH_TABLE = "ground_truth.customer_propensity"


def train(rows: pd.DataFrame, seed: int) -> Any:
    """The calibrated gradient-boosting pipeline on every feature, with its F1-maximizing threshold."""
    return train_model(rows, label=LABEL, features=FEATURE_SPEC, seed=seed)


def evaluate_holdout(model: Any, holdout: pd.DataFrame) -> EvaluationResult:
    return evaluate(model, holdout, label=LABEL, features=FEATURE_SPEC, segment_columns=SEGMENT_COLUMNS)


def score(model: Any, rows: pd.DataFrame) -> np.ndarray:
    return predict_scores(model, rows, FEATURE_SPEC)


def ground_truth(read_sql: Callable[[str], pd.DataFrame]) -> pd.DataFrame | None:
    """ground_truth.customer_propensity when the simulator wrote it, else None (external sources)."""
    exists = read_sql(f"select to_regclass('{_TRUTH_TABLE}') is not null as present")
    if not bool(exists.iloc[0, 0]):
        return None
    frame = read_sql(f"select user_id, true_propensity, will_purchase, period_start from {_TRUTH_TABLE}")
    return frame if not frame.empty else None


def oracle(model: Any, current: pl.DataFrame, read_sql: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    """Model ROC-AUC vs will_purchase beside the oracle's, or why they are absent."""
    truth = ground_truth(read_sql)
    if truth is None:
        return {"available": False, "reason": f"no {_TRUTH_TABLE} (external sources)"}
    cutoff = current.get_column("cutoff").max()
    assert cutoff is None or isinstance(cutoff, datetime)
    period_start = pd.to_datetime(truth["period_start"]).dt.date.min()
    if cutoff is None or cutoff.date() != period_start:
        return {"available": False,
                "reason": f"ground truth predicts from {period_start}, features are as of {cutoff}"}
    frame = to_model_frame(current)
    scores = pd.DataFrame({CUSTOMER_ID: frame[CUSTOMER_ID], "score": score(model, frame)})
    figures = oracle_comparison(scores, truth[["user_id", "true_propensity", "will_purchase"]])
    return {"available": True, **figures}


FAMILY = ModelFamily(
    name=keys.PURCHASE_PROPENSITY,
    description="Purchase-propensity candidate (calibrated gradient boosting), registered in MLflow as the new "
    "challenger.",
    training_set_key=keys.TRAINING_SET_KEY,
    features_key=keys.CUSTOMER_FEATURES_KEY,
    label=LABEL,
    train=train,
    evaluate=evaluate_holdout,
    score=score,
    metrics={"f1": True, "precision": True, "recall": True, "roc_auc": True, "pr_auc": True, "brier": False},
    gates=GateConfig(),
    drift_columns=tuple(DRIFT_COLUMNS),
    segment_columns=tuple(SEGMENT_COLUMNS),
    signature=tuple(FEATURE_SPEC.columns),
    code_version=keys.PURCHASE_PROPENSITY_CODE_VERSION,
    params={
        "numeric_features": len(FEATURE_SPEC.numeric),
        "categorical_features": ",".join(FEATURE_SPEC.categorical),
        "segment_columns": ",".join(SEGMENT_COLUMNS),
    },
    oracle=oracle,
    categorical_columns=tuple(FEATURE_SPEC.categorical),
    lookup_key=keys.CUSTOMER_FEATURES_KEY,
    lookup_id_column=CUSTOMER_ID,
    lookup_order_column=CUTOFF,
    output_kind="binary",
)
