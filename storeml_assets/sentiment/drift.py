"""Drift of review text between the reviews a model learnt from and the reviews written since.

Three measures, each with its threshold (:data:`THRESHOLDS`):

- ``text_length_ks``: Kolmogorov-Smirnov statistic between the character lengths of the texts;
- ``oov_rate_increase``: the share of words outside the training vocabulary (words seen at least
  twice in the oldest 80% of the training reviews) in the new reviews, minus that share in the
  newest 20% of the training reviews (typos make it non-zero without drift);
- ``class_mix_distance``: total-variation distance between the predicted class mixes, predicted
  by a small multinomial naive Bayes on word counts fitted with the training reviews (the drift
  measure must not depend on which model is champion).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import ks_2samp
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.naive_bayes import MultinomialNB

from storeml_assets.lifecycle.generic import DriftResult

#: Measure -> the value above which it drifted.
THRESHOLDS: dict[str, float] = {"text_length_ks": 0.15, "oov_rate_increase": 0.05, "class_mix_distance": 0.10}
#: Fewest new reviews drift is judged on.
MIN_DRIFT_REVIEWS = 50
_WORD = re.compile(r"[a-z][a-z']+")


def _words(texts: Iterable[str]) -> Iterable[str]:
    for text in texts:
        yield from _WORD.findall(text)


def oov_rate(texts: Sequence[str], vocabulary: frozenset[str]) -> float:
    """Share of the words of ``texts`` not in ``vocabulary`` (0 when there are no words)."""
    total = outside = 0
    for word in _words(texts):
        total += 1
        outside += word not in vocabulary
    return outside / total if total else 0.0


@dataclass
class TextReference:
    """What drift compares new reviews with: the training texts' statistics and a class-mix predictor."""

    lengths: np.ndarray
    vocabulary: frozenset[str]
    reference_oov: float
    class_mix: np.ndarray
    vectorizer: CountVectorizer
    mix_model: MultinomialNB

    @classmethod
    def of(cls, train_texts: Sequence[str], train_labels: np.ndarray) -> TextReference:
        """The vocabulary is the oldest 80% of the training texts' words seen twice; the reference
        out-of-vocabulary rate is that of the newest 20% (new reviews are measured the same way)."""
        cut = int(len(train_texts) * 0.8)
        counts = Counter(_words(train_texts[:cut]))
        vocabulary = frozenset(w for w, c in counts.items() if c >= 2)
        vectorizer = CountVectorizer(min_df=2)
        mix_model = MultinomialNB().fit(vectorizer.fit_transform(train_texts), train_labels)
        reference = cls(np.array([len(t) for t in train_texts]), vocabulary, oov_rate(train_texts[cut:], vocabulary),
                        np.zeros(3), vectorizer, mix_model)
        reference.class_mix = reference.predicted_mix(train_texts)
        return reference

    def predicted_mix(self, texts: Sequence[str]) -> np.ndarray:
        predicted = self.mix_model.predict(self.vectorizer.transform(texts))
        return np.bincount(predicted, minlength=3) / max(len(texts), 1)


def text_drift(reference: TextReference, current_texts: Sequence[str], what: str) -> DriftResult:
    """The three measures of ``current_texts`` (described by ``what``) against ``reference``."""
    if len(current_texts) < MIN_DRIFT_REVIEWS:
        return DriftResult({}, [], None, False,
                           f"only {len(current_texts)} {what} (< {MIN_DRIFT_REVIEWS}): drift not judged")
    lengths = np.array([len(t) for t in current_texts])
    measures = {
        "text_length_ks": float(ks_2samp(reference.lengths, lengths).statistic),
        "oov_rate_increase": float(oov_rate(current_texts, reference.vocabulary) - reference.reference_oov),
        "class_mix_distance": float(0.5 * np.abs(reference.predicted_mix(current_texts) - reference.class_mix).sum()),
        "mean_length_train": float(reference.lengths.mean()),
        "mean_length_current": float(lengths.mean()),
    }
    drifted = [name for name, limit in THRESHOLDS.items() if measures[name] > limit]
    share = len(drifted) / len(THRESHOLDS)
    return DriftResult(measures, drifted, share, True,
                       f"{len(drifted)} of {len(THRESHOLDS)} text measures drifted on {len(current_texts)} {what}")
