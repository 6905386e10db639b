"""The review-sentiment model: word and character n-gram TF-IDF, a linear classifier, calibrated.

Chosen by measurement on the simulated storefront (``docs/families/sentiment.md``): word 1-3-grams
catch negation and phrases ("not bad", "never disappointed", "not worth it"); character 3-5-grams
inside word boundaries read through typos ("dissapointed", "thhis"); a class-balanced linear SVM on
both is as accurate as a logistic regression and several times faster. It is fitted on 3 folds: a
multinomial logistic regression fitted on the out-of-fold scores calibrates them into probabilities,
and the served model is the average of the three fold models (a linear model again, no refit), and
the class is the calibrated probability divided by the class's training share, the decision that
weighs the three classes equally (what macro-F1 rewards) while the probabilities stay honest.

The fitted state is plain sklearn/numpy objects, so the model pickles into MLflow as a
``PythonModel`` whose ``predict`` serves a DataFrame of ``title``/``body``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from mlflow.pyfunc.model import PythonModel
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from storeml_assets.sentiment.text import review_texts

#: Class labels in index order: negative (1-2 stars), neutral (3), positive (4-5).
CLASSES: tuple[str, ...] = ("negative", "neutral", "positive")
PROBABILITY_COLUMNS: tuple[str, ...] = tuple(f"p_{c}" for c in CLASSES)


def rating_to_class(rating: np.ndarray) -> np.ndarray:
    """Class index per star rating (1-2 -> 0, 3 -> 1, 4-5 -> 2)."""
    rating = np.asarray(rating)
    return np.where(rating <= 2, 0, np.where(rating == 3, 1, 2)).astype(np.int64)


#: The model's knobs (MLflow params).
DEFAULT_PARAMS: dict[str, Any] = {
    "word_ngrams": (1, 3),
    "char_ngrams": (3, 5),
    "min_df": 2,
    "svm_c": 0.1,
    "calibration_folds": 3,
}


def _vectorizers(params: dict[str, Any]) -> tuple[TfidfVectorizer, TfidfVectorizer]:
    word = TfidfVectorizer(ngram_range=tuple(params["word_ngrams"]), min_df=params["min_df"], sublinear_tf=True,
                           token_pattern=r"(?u)\b\w[\w']*\b", dtype=np.float32)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(params["char_ngrams"]), min_df=params["min_df"],
                           sublinear_tf=True, dtype=np.float32)
    return word, char


class SentimentModel(PythonModel):
    """Title + body -> class and calibrated probabilities of negative, neutral and positive."""

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        self.params = dict(DEFAULT_PARAMS if params is None else params)
        self.word: TfidfVectorizer | None = None
        self.char: TfidfVectorizer | None = None
        self.svm: LinearSVC | None = None
        self.calibrator: LogisticRegression | None = None
        self.class_share = np.full(len(CLASSES), 1.0 / len(CLASSES))
        #: Training vocabulary (words seen at least ``min_df`` times), for the drift's out-of-vocabulary rate.
        self.vocabulary: frozenset[str] = frozenset()

    def _features(self, texts: list[str], *, fit: bool = False) -> sp.csr_matrix:
        assert self.word is not None and self.char is not None
        if fit:
            return sp.hstack([self.word.fit_transform(texts), self.char.fit_transform(texts)]).tocsr()
        return sp.hstack([self.word.transform(texts), self.char.transform(texts)]).tocsr()

    def _svm(self, seed: int) -> LinearSVC:
        return LinearSVC(C=self.params["svm_c"], class_weight="balanced", random_state=seed)

    def fit(self, texts: list[str], labels: np.ndarray, seed: int = 0) -> SentimentModel:
        """Fit on cleaned texts (:func:`~storeml_assets.sentiment.text.join_review`) and class indices;
        every class must be present."""
        labels = np.asarray(labels, dtype=np.int64)
        missing = sorted(set(range(len(CLASSES))) - set(np.unique(labels).tolist()))
        if missing:
            raise ValueError(f"training reviews lack the classes {[CLASSES[i] for i in missing]}")
        self.word, self.char = _vectorizers(self.params)
        features = self._features(texts, fit=True)
        folds = min(int(self.params["calibration_folds"]), int(np.bincount(labels).min()))
        if folds < 2:
            raise ValueError(f"too few reviews of the rarest class to calibrate: {np.bincount(labels).tolist()}")
        out_of_fold = np.zeros((len(labels), len(CLASSES)))
        fold_models = []
        for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=seed).split(features, labels):
            svm = self._svm(seed).fit(features[train_idx], labels[train_idx])
            out_of_fold[test_idx] = svm.decision_function(features[test_idx])
            fold_models.append(svm)
        self.calibrator = LogisticRegression(C=10.0, max_iter=1000).fit(out_of_fold, labels)
        # the fold models averaged: one linear model whose scores are the mean of theirs (no refit on all rows)
        self.svm = fold_models[0]
        self.svm.coef_ = np.mean([m.coef_ for m in fold_models], axis=0)
        self.svm.intercept_ = np.mean([m.intercept_ for m in fold_models], axis=0)
        self.class_share = np.bincount(labels, minlength=len(CLASSES)) / len(labels)
        self.vocabulary = frozenset(self.word.vocabulary_)
        return self

    def predict_proba_texts(self, texts: list[str]) -> np.ndarray:
        """Calibrated probabilities (rows sum to 1), columns in :data:`CLASSES` order."""
        if self.svm is None or self.calibrator is None:
            raise RuntimeError("the sentiment model is not fitted")
        if not texts:
            return np.zeros((0, len(CLASSES)))
        return self.calibrator.predict_proba(self.svm.decision_function(self._features(texts)))

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Class index per row: the probability over the class's training share (classes weighed equally)."""
        return np.argmax(proba / self.class_share, axis=1) if len(proba) else np.zeros(0, dtype=np.int64)

    def score_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``sentiment`` and ``p_negative``/``p_neutral``/``p_positive`` for each row of ``frame``."""
        proba = self.predict_proba_texts(review_texts(frame))
        out = pd.DataFrame(proba, columns=list(PROBABILITY_COLUMNS), index=frame.index)
        out.insert(0, "sentiment", np.array(CLASSES, dtype=object)[self.decide(proba)])
        return out

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Serve a DataFrame with ``title`` and/or ``body``: one row out per row in."""
        return self.score_frame(pd.DataFrame(model_input))
