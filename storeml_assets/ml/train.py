"""Purchase-propensity model: build, train and evaluate a scikit-learn pipeline on a feature frame.

Everything here works on a generic feature frame (one row per customer, numeric and categorical
feature columns, a binary label column, optional segment and true-propensity columns) and knows
nothing of Dagster or MLflow.

Model: ordinal-encoded categoricals + raw numerics (missing values allowed) into a
``HistGradientBoostingClassifier`` with native categorical support, wrapped in a
``CalibratedClassifierCV`` (isotonic, 3 folds) so that the scores are probabilities and the Brier
score and calibration gate mean something.

Decision threshold: :func:`train_model` holds out a stratified 20% validation split of the training
data, fits on the remaining 80%, takes the threshold that maximizes F1 on the validation split,
then refits on all training rows. The threshold is stored on the fitted pipeline as
``decision_threshold_`` (it travels with the model into MLflow); :func:`decision_threshold` reads it
(0.5 for a model without one).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import CalibratedClassifierCV, calibration_curve
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder
from threadpoolctl import threadpool_limits

#: Attribute on a fitted pipeline holding its decision threshold.
THRESHOLD_ATTRIBUTE = "decision_threshold_"
DEFAULT_THRESHOLD = 0.5
#: Share of the training rows held out to choose the decision threshold.
THRESHOLD_VALIDATION_SHARE = 0.2
#: OpenMP threads for fitting and scoring. One: Dagster's multiprocess executor already runs steps
#: in parallel, and on the shared 2-core machine two OpenMP threads made a 20k-row fit ~9x slower
#: (busy-waiting under oversubscription). Pass ``n_threads=None`` to use every core.
DEFAULT_THREADS = 1


@dataclass(frozen=True)
class FeatureSpec:
    """Which columns of a feature frame the model uses."""

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """All feature columns, categoricals first (the order the pipeline sees them)."""
        return [*self.categorical, *self.numeric]

    def __post_init__(self) -> None:
        if not self.numeric and not self.categorical:
            raise ValueError("FeatureSpec needs at least one numeric or categorical column")
        overlap = set(self.numeric) & set(self.categorical)
        if overlap:
            raise ValueError(f"columns both numeric and categorical: {sorted(overlap)}")


@dataclass
class EvaluationResult:
    """Holdout metrics of one model; ``y_true``/``y_score`` are kept for plots, not serialized."""

    n: int
    positives: int
    threshold: float
    f1: float
    precision: float
    recall: float
    brier: float
    roc_auc: float
    pr_auc: float
    segment_f1: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    oracle_roc_auc: float | None = None
    y_true: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    y_score: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    def metrics(self) -> dict[str, float]:
        """Flat scalar metrics (for MLflow ``log_metrics`` and Dagster metadata)."""
        out = {
            "f1": self.f1,
            "precision": self.precision,
            "recall": self.recall,
            "brier": self.brier,
            "roc_auc": self.roc_auc,
            "pr_auc": self.pr_auc,
            "threshold": self.threshold,
            "holdout_rows": float(self.n),
            "holdout_positives": float(self.positives),
        }
        if self.oracle_roc_auc is not None:
            out["oracle_roc_auc"] = self.oracle_roc_auc
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form (without the per-row arrays)."""
        return {
            "n": self.n,
            "positives": self.positives,
            "threshold": self.threshold,
            "f1": self.f1,
            "precision": self.precision,
            "recall": self.recall,
            "brier": self.brier,
            "roc_auc": self.roc_auc,
            "pr_auc": self.pr_auc,
            "oracle_roc_auc": self.oracle_roc_auc,
            "segment_f1": self.segment_f1,
        }


#: The one category of a categorical feature that is null in every training row.
EMPTY_CATEGORY = "(none)"


def build_pipeline(numeric: list[str], categorical: list[str], seed: int) -> Pipeline:
    """An unfitted, seeded pipeline: ordinal-encode categoricals, calibrated gradient boosting."""
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=np.nan,
        encoded_missing_value=np.nan,
        max_categories=64,
        dtype=np.float64,
    )
    preprocess = ColumnTransformer(
        [
            ("categorical", encoder, list(categorical)),
            ("numeric", "passthrough", list(numeric)),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    )
    booster = HistGradientBoostingClassifier(
        learning_rate=0.06,
        max_iter=300,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        categorical_features=list(range(len(categorical))) or None,
        early_stopping=True,
        validation_fraction=0.15,
        n_iter_no_change=15,
        random_state=seed,
    )
    calibrated = CalibratedClassifierCV(booster, method="isotonic", cv=3)
    return Pipeline([("preprocess", preprocess), ("model", calibrated)])


def _labels(frame: pd.DataFrame, label: str) -> np.ndarray:
    if label not in frame.columns:
        raise ValueError(f"label column {label!r} not in frame (columns: {list(frame.columns)})")
    values = frame[label]
    if values.isna().any():
        raise ValueError(f"label column {label!r} has {int(values.isna().sum())} missing values")
    y = values.astype("int64").to_numpy()
    bad = set(np.unique(y)) - {0, 1}
    if bad:
        raise ValueError(f"label column {label!r} must be 0/1, found {sorted(bad)}")
    return y


def _features(frame: pd.DataFrame, features: FeatureSpec) -> pd.DataFrame:
    missing = [c for c in features.columns if c not in frame.columns]
    if missing:
        raise ValueError(f"feature columns missing from frame: {missing}")
    return frame[features.columns]


def best_f1_threshold(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """The score threshold maximizing F1 (predict positive when score >= threshold)."""
    precision, recall, thresholds = precision_recall_curve(y_true, y_score)
    if len(thresholds) == 0:
        return DEFAULT_THRESHOLD
    p, r = precision[:-1], recall[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    return float(thresholds[int(np.argmax(f1))])


def decision_threshold(model: Any) -> float:
    """The threshold stored on a model by :func:`train_model`, else 0.5."""
    return float(getattr(model, THRESHOLD_ATTRIBUTE, DEFAULT_THRESHOLD))


def train_model(
    train: pd.DataFrame, *, label: str, features: FeatureSpec, seed: int, n_threads: int | None = DEFAULT_THREADS
) -> Pipeline:
    """Fit the pipeline on ``train`` and store the F1-maximizing threshold on it (see module doc)."""
    y = _labels(train, label)
    x = _features(train, features)
    # a categorical feature the storefront never fills (no profiles: no segment) has no category to learn;
    # one placeholder category keeps the booster's binning defined, and missing values stay missing at predict
    empty = [column for column in features.categorical if x[column].isna().all()]
    if empty:
        x = x.assign(**{column: EMPTY_CATEGORY for column in empty})
    # likewise a numeric feature null in every row (no reviews: no average rating): one constant value
    # (the booster's binning of a column without a single value is undefined); it never splits a tree
    empty_numeric = [column for column in features.numeric if x[column].isna().all()]
    if empty_numeric:
        x = x.assign(**{column: 0.0 for column in empty_numeric})
    if len(np.unique(y)) < 2:
        raise ValueError(f"label column {label!r} has a single class in {len(y)} training rows")
    x_fit, x_val, y_fit, y_val = train_test_split(
        x, y, test_size=THRESHOLD_VALIDATION_SHARE, stratify=y, random_state=seed
    )
    with threadpool_limits(n_threads):
        probe = build_pipeline(features.numeric, features.categorical, seed)
        probe.fit(x_fit, y_fit)
        threshold = best_f1_threshold(y_val, probe.predict_proba(x_val)[:, 1])

        model = build_pipeline(features.numeric, features.categorical, seed)
        model.fit(x, y)
    setattr(model, THRESHOLD_ATTRIBUTE, threshold)
    return model


def predict_scores(
    model: Any, frame: pd.DataFrame, features: FeatureSpec, n_threads: int | None = DEFAULT_THREADS
) -> np.ndarray:
    """Positive-class probabilities for every row of ``frame``."""
    with threadpool_limits(n_threads):
        return np.asarray(model.predict_proba(_features(frame, features))[:, 1], dtype=float)


def _safe_auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(y, score)) if len(np.unique(y)) == 2 else float("nan")


def evaluate(
    model: Any,
    holdout: pd.DataFrame,
    *,
    label: str,
    features: FeatureSpec,
    segment_columns: list[str],
    threshold: float | None = None,
    propensity_column: str | None = None,
) -> EvaluationResult:
    """Holdout metrics at ``threshold`` (default: the model's stored threshold, else 0.5).

    ``segment_f1`` maps segment column -> segment value (as text) -> {"f1", "n", "positives"}.
    ``oracle_roc_auc`` is the ROC-AUC of ``propensity_column`` (the true propensity) as the score.
    """
    y = _labels(holdout, label)
    if len(y) == 0:
        raise ValueError("holdout frame is empty")
    score = predict_scores(model, holdout, features)
    chosen = decision_threshold(model) if threshold is None else float(threshold)
    predicted = (score >= chosen).astype(int)

    segments: dict[str, dict[str, dict[str, float]]] = {}
    for column in segment_columns:
        if column not in holdout.columns:
            raise ValueError(f"segment column {column!r} not in holdout frame")
        keys = holdout[column].astype("string").fillna("<missing>").to_numpy()
        per_value: dict[str, dict[str, float]] = {}
        for value in sorted(set(keys)):
            mask = keys == value
            per_value[str(value)] = {
                "f1": float(f1_score(y[mask], predicted[mask], zero_division=0)),
                "n": int(mask.sum()),
                "positives": int(y[mask].sum()),
            }
        segments[column] = per_value

    oracle = None
    if propensity_column is not None:
        if propensity_column not in holdout.columns:
            raise ValueError(f"propensity column {propensity_column!r} not in holdout frame")
        oracle = _safe_auc(y, holdout[propensity_column].to_numpy(dtype=float))

    return EvaluationResult(
        n=len(y),
        positives=int(y.sum()),
        threshold=chosen,
        f1=float(f1_score(y, predicted, zero_division=0)),
        precision=float(precision_score(y, predicted, zero_division=0)),
        recall=float(recall_score(y, predicted, zero_division=0)),
        brier=float(brier_score_loss(y, score)),
        roc_auc=_safe_auc(y, score),
        pr_auc=float(average_precision_score(y, score)) if y.any() else float("nan"),
        segment_f1=segments,
        oracle_roc_auc=oracle,
        y_true=y,
        y_score=score,
    )


def evaluation_curves(result: EvaluationResult, *, calibration_bins: int = 10) -> dict[str, dict[str, np.ndarray]]:
    """Points of the ROC, precision-recall and calibration curves of an evaluation."""
    y, score = result.y_true, result.y_score
    if len(y) == 0:
        raise ValueError("evaluation result carries no scores to plot")
    fpr, tpr, _ = roc_curve(y, score)
    precision, recall, _ = precision_recall_curve(y, score)
    prob_true, prob_pred = calibration_curve(y, score, n_bins=calibration_bins, strategy="quantile")
    return {
        "roc": {"fpr": fpr, "tpr": tpr},
        "pr": {"recall": recall, "precision": precision},
        "calibration": {"mean_predicted": prob_pred, "fraction_positive": prob_true},
    }


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def evaluation_plots(result: EvaluationResult) -> dict[str, bytes]:
    """PNG bytes keyed by file name: ``roc_curve.png``, ``pr_curve.png``, ``calibration_curve.png``."""
    curves = evaluation_curves(result)
    plots: dict[str, bytes] = {}

    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.plot(curves["roc"]["fpr"], curves["roc"]["tpr"], label=f"model (AUC {result.roc_auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve", xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="lower right")
    plots["roc_curve.png"] = _png(fig)

    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.plot(curves["pr"]["recall"], curves["pr"]["precision"], label=f"model (AP {result.pr_auc:.3f})")
    base_rate = result.positives / result.n
    ax.axhline(base_rate, linestyle="--", color="grey", label=f"base rate {base_rate:.3f}")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall curve", xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="upper right")
    plots["pr_curve.png"] = _png(fig)

    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.plot(
        curves["calibration"]["mean_predicted"],
        curves["calibration"]["fraction_positive"],
        marker="o",
        label=f"model (Brier {result.brier:.3f})",
    )
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.set(xlabel="mean predicted probability", ylabel="fraction of positives", title="Calibration curve",
           xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left")
    plots["calibration_curve.png"] = _png(fig)
    return plots


def flip_labels(frame: pd.DataFrame, label: str, share: float, seed: int) -> pd.DataFrame:
    """A copy of ``frame`` with exactly ``round(share * rows)`` randomly chosen 0/1 labels flipped."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be between 0 and 1, got {share!r}")
    y = _labels(frame, label)
    rng = np.random.default_rng(seed)
    count = int(round(share * len(y)))
    chosen = rng.choice(len(y), size=count, replace=False)
    flipped = y.copy()
    flipped[chosen] = 1 - flipped[chosen]
    out = frame.copy()
    out[label] = flipped.astype(frame[label].dtype) if frame[label].dtype != bool else flipped.astype(bool)
    return out
