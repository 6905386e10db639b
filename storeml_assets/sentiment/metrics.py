"""The sentiment family's figures: macro-F1 and per-class F1, accuracy, ROC-AUC positive-vs-negative,
multi-class Brier score and log-loss, the confusion matrix, per-category macro-F1; the two baselines
(majority class, unigram TF-IDF + logistic regression with defaults) and the Markdown people read.

``brier`` is the multi-class Brier score: the mean over reviews of the squared distance between the
probability vector and the one-hot class (0 is perfect, 2 the worst).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, f1_score, roc_auc_score

from storeml_assets.markdown import table
from storeml_assets.sentiment.model import CLASSES

#: Metric name -> higher is better; the headline metrics first.
METRICS: dict[str, bool] = {
    "macro_f1": True,
    "accuracy": True,
    "brier": False,
    "log_loss": False,
    "roc_auc_pos_neg": True,
    "f1_negative": True,
    "f1_neutral": True,
    "f1_positive": True,
}
_EPS = 1e-7


def classification_metrics(labels: np.ndarray, predicted: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Every metric of :data:`METRICS` for class indices ``labels``/``predicted`` and probabilities ``proba``
    (NaN where undefined, e.g. ROC-AUC without both positive and negative reviews)."""
    labels, predicted = np.asarray(labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    if not len(labels):
        return dict.fromkeys(METRICS, math.nan)
    per_class = f1_score(labels, predicted, labels=list(range(len(CLASSES))), average=None, zero_division=0.0)
    onehot = np.eye(len(CLASSES))[labels]
    clipped = np.clip(proba, _EPS, 1.0)
    out = {
        "macro_f1": float(np.mean(per_class)),
        "accuracy": float(np.mean(labels == predicted)),
        "brier": float(np.mean(np.sum((proba - onehot) ** 2, axis=1))),
        "log_loss": float(-np.mean(np.log(clipped[np.arange(len(labels)), labels]))),
        "roc_auc_pos_neg": math.nan,
    }
    polar = labels != 1
    if len(np.unique(labels[polar])) == 2:
        score = proba[polar, 2] / np.maximum(proba[polar, 2] + proba[polar, 0], _EPS)
        out["roc_auc_pos_neg"] = float(roc_auc_score(labels[polar] == 2, score))
    out.update({f"f1_{name}": float(value) for name, value in zip(CLASSES, per_class, strict=True)})
    return out


def majority_baseline(train_labels: np.ndarray, holdout_labels: np.ndarray) -> dict[str, float]:
    """Always the training set's most frequent class, with the training class shares as probabilities."""
    share = np.bincount(train_labels, minlength=len(CLASSES)) / max(len(train_labels), 1)
    proba = np.tile(share, (len(holdout_labels), 1))
    return classification_metrics(holdout_labels, np.full(len(holdout_labels), int(np.argmax(share))), proba)


def unigram_baseline(train_texts: Sequence[str], train_labels: np.ndarray, holdout_texts: Sequence[str],
                     holdout_labels: np.ndarray) -> dict[str, float]:
    """Plain unigram TF-IDF + logistic regression, both with sklearn's defaults."""
    vectorizer = TfidfVectorizer()
    model = LogisticRegression().fit(vectorizer.fit_transform(train_texts), train_labels)
    features = vectorizer.transform(holdout_texts)
    return classification_metrics(holdout_labels, model.predict(features), model.predict_proba(features))


def per_category_macro_f1(labels: np.ndarray, predicted: np.ndarray, categories: np.ndarray,
                          min_reviews: int) -> dict[str, dict[str, float]]:
    """Macro-F1 and review count per category with at least ``min_reviews`` holdout reviews."""
    out: dict[str, dict[str, float]] = {}
    for category in sorted(set(categories.tolist())):
        mask = categories == category
        if mask.sum() >= min_reviews:
            present = sorted(set(labels[mask].tolist()))
            out[str(category)] = {
                "macro_f1": float(f1_score(labels[mask], predicted[mask], labels=present, average="macro",
                                           zero_division=0.0)),
                "reviews": float(mask.sum()),
            }
    return out


def confusion(labels: np.ndarray, predicted: np.ndarray) -> list[list[int]]:
    """Rows: true class, columns: predicted class, in :data:`CLASSES` order."""
    return confusion_matrix(labels, predicted, labels=list(range(len(CLASSES)))).tolist()


def _num(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


def evaluation_markdown(metrics: Mapping[str, float], baselines: Mapping[str, Mapping[str, float]],
                        oracle: Mapping[str, float] | None, matrix: list[list[int]],
                        per_category: Mapping[str, Mapping[str, float]]) -> str:
    """The metric table beside baselines and oracle, the per-class table, the confusion matrix and
    the per-category macro-F1."""
    columns = ["metric", "model", *baselines, *(["oracle"] if oracle else [])]
    rows = [[name, _num(metrics.get(name)), *(_num(b.get(name)) for b in baselines.values()),
             *([_num(oracle.get(name))] if oracle else [])] for name in METRICS]
    support = [sum(row) for row in matrix]
    predicted = [sum(col) for col in zip(*matrix, strict=True)] if matrix else [0] * len(CLASSES)
    class_rows = [[name, _num(metrics.get(f"f1_{name}")), str(support[i]), str(predicted[i])]
                  for i, name in enumerate(CLASSES)]
    matrix_rows = [[f"true {name}", *(str(v) for v in matrix[i])] for i, name in enumerate(CLASSES)]
    category_rows = [[name, _num(v["macro_f1"]), str(int(v["reviews"]))] for name, v in per_category.items()]
    return "\n\n".join([
        "**Holdout metrics** (newest reviews)\n\n" + table(rows, columns),
        "**Per class**\n\n" + table(class_rows, ["class", "f1", "true reviews", "predicted reviews"]),
        "**Confusion matrix** (rows: rating class, columns: predicted)\n\n"
        + table(matrix_rows, ["", *(f"pred {c}" for c in CLASSES)]),
        "**Macro-F1 per category**\n\n" + table(category_rows, ["category", "macro_f1", "reviews"]),
    ])
