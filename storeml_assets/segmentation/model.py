"""The segmentation model: lifecycle rules, then k-means over the buying customers with k chosen by silhouette.

Input: one row per customer from ``features.customer_features`` (:data:`INPUT_COLUMNS`, as of one cutoff).

- ``new``: signed up less than :data:`NEW_CUSTOMER_DAYS` days before the cutoff (too little history to judge
  their behaviour; tenure is exact, so this is a rule, not a cluster);
- ``hibernating``: no paid order in the features' 90-day lookback, or a single one more than
  :data:`SINGLE_ORDER_HIBERNATING_DAYS` days ago. Customers without any order land here (or in ``new``): a clear
  rule, not a cluster of zeros;
- every other customer is clustered by k-means on standardised ``log1p(frequency)``, ``recency_days / 90``
  and ``activity_p_alive`` (the activity model's probability that the customer is still active), with k in
  :data:`K_RANGE` chosen by the silhouette of a sample. Each cluster is named from its centroid: a cluster
  whose customers are probably lapsing (mean p_alive below :data:`AT_RISK_P_ALIVE` or mean recency above
  :data:`AT_RISK_RECENCY_DAYS`) is ``at risk`` (a second one, less likely still active, ``lapsing``); the
  others by mean frequency, highest first: ``champions``, ``loyal``, ``occasional`` (numbered beyond that).

The probability of a clustered customer's segment is a softmax over the negative squared distances to the
centroids (scaled by the mean within-cluster squared distance); a rule segment's is 1. These features were
chosen by measuring the adjusted Rand index against the simulator's planted personas (``docs/families/
segmentation.md``): RFM alone, with tenure or monetary value, or a Gaussian mixture over all of them, reach
0.25-0.40; the lifecycle rules plus this clustering 0.60-0.63 (``small``, seeds 42 and 7), 0.63-0.65 with a
single old order counted as hibernating.

The fitted state is numpy arrays and strings, so the model pickles into MLflow as a ``PythonModel`` whose
``predict`` serves a DataFrame of :data:`INPUT_COLUMNS` (``customer_id`` optional).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

INPUT_COLUMNS: tuple[str, ...] = ("recency_days", "frequency", "monetary", "tenure_days", "activity_p_alive")
NEW_CUSTOMER_DAYS = 60.0
#: A customer whose only order in the lookback is older than this is hibernating.
SINGLE_ORDER_HIBERNATING_DAYS = 45.0
#: Recency of a customer without an order in the lookback (the features' lookback).
LOOKBACK_DAYS = 90.0
#: k from 3: silhouette over 2..6 picks 2 on the simulated storefront, merging the regular buyers into the best
#: (adjusted Rand index against the planted personas 0.52-0.53 with k = 2, 0.60-0.63 with 3; seeds 42 and 7).
K_RANGE: tuple[int, int] = (3, 6)
AT_RISK_P_ALIVE = 0.5
AT_RISK_RECENCY_DAYS = 30.0
NEW, HIBERNATING = "new", "hibernating"
LAPSING_NAMES = ("at risk", "lapsing")
ACTIVE_NAMES = ("champions", "loyal", "occasional")
#: Fit k-means on at most this many customers (a seeded sample) and judge each k's silhouette on this many.
FIT_SAMPLE = 20_000
SILHOUETTE_SAMPLE = 2_000


def _column(frame: pd.DataFrame, name: str, fill: float) -> np.ndarray:
    if name not in frame.columns:
        raise ValueError(f"segmentation input lacks column {name!r} (needs {', '.join(INPUT_COLUMNS)})")
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(values), values, fill)


def lifecycle(frame: pd.DataFrame) -> np.ndarray:
    """Per row: ``new``, ``hibernating`` or "" (to be clustered)."""
    tenure = _column(frame, "tenure_days", 0.0)
    frequency = _column(frame, "frequency", 0.0)
    recency = _column(frame, "recency_days", LOOKBACK_DAYS)
    asleep = (frequency <= 0) | ((frequency <= 1) & (recency > SINGLE_ORDER_HIBERNATING_DAYS))
    return np.where(tenure < NEW_CUSTOMER_DAYS, NEW, np.where(asleep, HIBERNATING, ""))


def behaviour(frame: pd.DataFrame) -> np.ndarray:
    """The clustering space before standardising: log1p(frequency), recency / lookback, p_alive."""
    frequency = np.clip(_column(frame, "frequency", 0.0), 0.0, None)
    recency = np.clip(_column(frame, "recency_days", LOOKBACK_DAYS), 0.0, LOOKBACK_DAYS)
    p_alive = np.clip(_column(frame, "activity_p_alive", 0.0), 0.0, 1.0)
    return np.column_stack([np.log1p(frequency), recency / LOOKBACK_DAYS, p_alive])


def _names(centroids: np.ndarray) -> list[str]:
    """Business names from centroids in the behaviour space (unique: a repeated name gets a number)."""
    frequency, recency, p_alive = np.expm1(centroids[:, 0]), centroids[:, 1] * LOOKBACK_DAYS, centroids[:, 2]
    lapsing = (p_alive < AT_RISK_P_ALIVE) | (recency > AT_RISK_RECENCY_DAYS)
    names = [""] * len(centroids)
    active = [i for i in np.argsort(-frequency) if not lapsing[i]]
    for rank, i in enumerate(active):
        names[i] = ACTIVE_NAMES[min(rank, len(ACTIVE_NAMES) - 1)]
    for rank, i in enumerate(i for i in np.argsort(-p_alive) if lapsing[i]):
        names[i] = LAPSING_NAMES[min(rank, len(LAPSING_NAMES) - 1)]
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            names[i] = f"{name} {seen[name]}"
    return names


class SegmentationModel(PythonModel):
    """Customer features -> segment (a business name) and its probability."""

    def __init__(self, k_range: tuple[int, int] = K_RANGE) -> None:
        if not 2 <= k_range[0] <= k_range[1]:
            raise ValueError(f"k_range must be 2 <= low <= high, got {k_range}")
        self.k_range = k_range
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.centroids: np.ndarray | None = None  # standardised
        self.names: list[str] = []
        self.temperature = 1.0
        self.silhouette_by_k: dict[int, float] = {}

    @property
    def fitted(self) -> bool:
        return self.centroids is not None

    def params(self) -> dict[str, Any]:
        return {"k_range": f"{self.k_range[0]}-{self.k_range[1]}", "new_customer_days": NEW_CUSTOMER_DAYS,
                "single_order_hibernating_days": SINGLE_ORDER_HIBERNATING_DAYS,
                "at_risk_p_alive": AT_RISK_P_ALIVE, "at_risk_recency_days": AT_RISK_RECENCY_DAYS}

    def fit(self, frame: pd.DataFrame, seed: int) -> SegmentationModel:
        """Choose k by silhouette and fit k-means on the customers the lifecycle rules leave to clustering."""
        rest = lifecycle(frame) == ""
        space = behaviour(frame)[rest]
        if len(space) < 2 * self.k_range[1]:
            raise ValueError(f"segmentation needs at least {2 * self.k_range[1]} customers with orders "
                             f"who are not new, got {len(space)}")
        rng = np.random.default_rng(seed)
        if len(space) > FIT_SAMPLE:
            space = space[rng.choice(len(space), FIT_SAMPLE, replace=False)]
        self.mean, self.scale = space.mean(axis=0), space.std(axis=0)
        self.scale = np.where(self.scale > 1e-9, self.scale, 1.0)
        x = (space - self.mean) / self.scale
        judge = rng.choice(len(x), min(len(x), SILHOUETTE_SAMPLE), replace=False)
        best: tuple[float, KMeans] | None = None
        for k in range(self.k_range[0], self.k_range[1] + 1):
            with threadpool_limits(1):  # small data: threads only spin-wait on a busy machine
                km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(x)
            labels = km.labels_[judge]
            score = float(silhouette_score(x[judge], labels)) if len(np.unique(labels)) > 1 else -1.0
            self.silhouette_by_k[k] = score
            if best is None or score > best[0]:
                best = (score, km)
        assert best is not None
        km = best[1]
        self.centroids = np.asarray(km.cluster_centers_)
        self.temperature = max(float(km.inertia_) / len(x), 1e-6)
        self.names = _names(self.centroids * self.scale + self.mean)
        return self

    @property
    def segments(self) -> list[str]:
        """Every segment this model can assign."""
        return [NEW, HIBERNATING, *self.names]

    def assign(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Segment name and probability per row of ``frame``."""
        if not self.fitted:
            raise ValueError("the segmentation model is not fitted")
        assert self.centroids is not None and self.mean is not None and self.scale is not None
        rule = lifecycle(frame)
        segment = rule.astype(object)
        probability = np.ones(len(frame), dtype=np.float64)
        rest = rule == ""
        if rest.any():
            x = (behaviour(frame)[rest] - self.mean) / self.scale
            distance = ((x[:, None, :] - self.centroids[None, :, :]) ** 2).sum(axis=2)
            logits = -distance / self.temperature
            logits -= logits.max(axis=1, keepdims=True)
            weights = np.exp(logits)
            weights /= weights.sum(axis=1, keepdims=True)
            nearest = distance.argmin(axis=1)
            segment[rest] = np.asarray(self.names, dtype=object)[nearest]
            probability[rest] = weights[np.arange(len(nearest)), nearest]
        return segment.astype(str), probability

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """``segment`` and ``probability`` per input row (with ``customer_id`` when the input has it)."""
        segment, probability = self.assign(model_input)
        out = pd.DataFrame({"segment": segment, "probability": probability}, index=model_input.index)
        if "customer_id" in model_input.columns:
            out.insert(0, "customer_id", model_input["customer_id"].to_numpy())
        return out
