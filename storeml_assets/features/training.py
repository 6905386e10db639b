"""Time-split training data for the propensity model: cutoffs, labelled feature stacks, oracle figures.

Plain polars/pandas, no Dagster. The history ends at ``end`` (midnight after the last order day).
Labels need ``horizon_days`` of future, so the latest labelled cutoff is ``end - horizon``: that one
is the holdout; the ``train_cutoffs`` cutoffs before it, one horizon apart, are the training rows:

    train: end - (k + 1) * horizon, ..., end - 2 * horizon      holdout: end - horizon

A training cutoff's labels cover ``(cutoff, cutoff + horizon]``, which ends at or before the
holdout cutoff, so no training label looks into the holdout's label period; every feature is
computed from data before its own cutoff (:func:`storeml_assets.features.customer.build_customer_features`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from sklearn.metrics import roc_auc_score

from storeml_assets.features.customer import (
    CATEGORICAL_FEATURES,
    CUSTOMER_ID,
    CUTOFF,
    FEATURE_COLUMNS,
    FEATURE_SPEC,
    LABEL,
    LOOKBACK_DAYS,
    build_customer_features,
    label_frame,
)
from storeml_assets.timeutil import as_utc

SPLIT = "split"
TRAIN = "train"
HOLDOUT = "holdout"
TRAINING_COLUMNS = [*FEATURE_COLUMNS, LABEL, SPLIT]
#: Run tag the retraining sensor sets to the fingerprint of its trigger settings; a training attempt
#: records it in its data basis.
TRIGGER_CONFIG_TAG = "storeml/trigger.config"


@dataclass(frozen=True)
class CutoffPlan:
    """Which cutoffs feed the training rows and the holdout."""

    end: datetime
    train: tuple[datetime, ...]
    holdout: datetime
    horizon_days: int

    @property
    def training_window(self) -> tuple[datetime, datetime]:
        """First and last instant of the data the training rows use (features of the first cutoff
        with a ``LOOKBACK_DAYS`` lookback .. labels of the last training cutoff)."""
        return (self.train[0] - timedelta(days=LOOKBACK_DAYS),
                self.train[-1] + timedelta(days=self.horizon_days))

    def to_dict(self) -> dict[str, Any]:
        return {
            "end": self.end.isoformat(),
            "train_cutoffs": [c.isoformat() for c in self.train],
            "holdout_cutoff": self.holdout.isoformat(),
            "horizon_days": self.horizon_days,
        }


@dataclass(frozen=True)
class DataBasis:
    """What one training attempt was built from: the orders it saw (their newest ``ordered_at``, the
    data high-water mark, and their count), the training code version and the fingerprint of the
    retraining-trigger settings that launched it (None when it was not launched by the sensor).

    Recorded in the ``metadata`` of its mlops ``model_versions`` row (:meth:`to_metadata`); the retraining sensor compares
    the newest attempt's basis with the data as it stands, and the promotion gates compare a
    candidate's basis with the champion's.
    """

    data_hwm: datetime | None
    orders_seen: int | None
    code_version: str | None = None
    trigger_config: str | None = None

    def to_metadata(self) -> dict[str, Any]:
        return {
            "data_hwm": self.data_hwm.isoformat() if self.data_hwm else None,
            "orders_seen": self.orders_seen,
            "code_version": self.code_version,
            "trigger_config": self.trigger_config,
        }

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any] | None) -> DataBasis | None:
        """The basis recorded in a ``model_versions.metadata`` mapping; None when it holds none
        (versions trained before bases were recorded)."""
        if not metadata or metadata.get("data_hwm") is None or metadata.get("orders_seen") is None:
            return None
        raw = str(metadata["data_hwm"]).replace("Z", "+00:00")
        try:
            hwm = as_utc(datetime.fromisoformat(raw))
            seen = int(metadata["orders_seen"])
        except (TypeError, ValueError):
            raise ValueError(f"model_versions.metadata has a malformed data basis: data_hwm={raw!r}, "
                             f"orders_seen={metadata['orders_seen']!r}") from None
        code = metadata.get("code_version")
        trigger = metadata.get("trigger_config")
        return cls(hwm, seen, None if code is None else str(code), None if trigger is None else str(trigger))

    def same_data(self, other: DataBasis | None) -> bool:
        """Both saw exactly the same orders (same high-water mark and count)."""
        return other is not None and self.data_hwm == other.data_hwm and self.orders_seen == other.orders_seen

    def describe(self) -> str:
        hwm = f"{self.data_hwm:%Y-%m-%d %H:%M:%S}" if self.data_hwm else "none"
        return f"{self.orders_seen or 0:,} orders up to {hwm}"


def data_basis(orders: pl.DataFrame, end: datetime, *, code_version: str | None = None,
               trigger_config: str | None = None) -> DataBasis:
    """The basis of a training set built with history end ``end``: the orders placed before it."""
    if "ordered_at" not in orders.columns:
        raise ValueError("cannot measure the data high-water mark: the orders frame lacks ordered_at")
    column = pl.col("ordered_at")
    dtype = orders.schema["ordered_at"]
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        seen = orders.filter(column < as_utc(end).replace(tzinfo=None))
    else:
        seen = orders.filter(column < as_utc(end))
    newest = seen.get_column("ordered_at").max()
    if newest is not None and not isinstance(newest, datetime):
        raise ValueError(f"orders.ordered_at must be timestamps, got {type(newest).__name__}")
    return DataBasis(as_utc(newest) if newest is not None else None, seen.height, code_version, trigger_config)


def history_end(orders: pl.DataFrame) -> datetime:
    """Midnight (UTC) after the day of the latest order: the end of the data."""
    if orders.is_empty() or "ordered_at" not in orders.columns:
        raise ValueError("cannot find the end of the history: the orders frame is empty or lacks ordered_at")
    latest = orders.get_column("ordered_at").max()
    if not isinstance(latest, datetime):
        raise ValueError(f"orders.ordered_at must be timestamps, got {type(latest).__name__}")
    latest = as_utc(latest)
    return latest.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


def plan_cutoffs(end: datetime, *, train_cutoffs: int = 2, horizon_days: int = 30) -> CutoffPlan:
    """Holdout at ``end - horizon``; ``train_cutoffs`` earlier cutoffs, one horizon apart."""
    if train_cutoffs < 1:
        raise ValueError(f"train_cutoffs must be at least 1, got {train_cutoffs}")
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be at least 1, got {horizon_days}")
    end = as_utc(end)
    step = timedelta(days=horizon_days)
    holdout = end - step
    train = tuple(holdout - step * k for k in range(train_cutoffs, 0, -1))
    return CutoffPlan(end=end, train=train, holdout=holdout, horizon_days=horizon_days)


def build_training_set(
    frames: Mapping[str, pl.DataFrame],
    plan: CutoffPlan,
    *,
    window_days: int = 30,
    lookback_days: int = LOOKBACK_DAYS,
) -> pl.DataFrame:
    """Labelled feature rows of every cutoff in ``plan``, stacked, with a ``split`` column."""
    orders = frames["orders"]
    parts = []
    for cutoff, split in [*((c, TRAIN) for c in plan.train), (plan.holdout, HOLDOUT)]:
        features = build_customer_features(frames, cutoff, window_days=window_days, lookback_days=lookback_days)
        labelled = label_frame(features, orders, plan.horizon_days)
        parts.append(labelled.with_columns(pl.lit(split).alias(SPLIT)))
    return pl.concat(parts, how="vertical").select(TRAINING_COLUMNS)


def to_model_frame(frame: pl.DataFrame) -> pd.DataFrame:
    """A polars feature frame as the pandas frame the sklearn pipeline expects (nulls as NaN/None)."""
    out = frame.to_pandas()
    for column in FEATURE_SPEC.numeric:
        if column in out.columns:
            out[column] = out[column].astype("float64")
    for column in CATEGORICAL_FEATURES:
        if column in out.columns:
            out[column] = out[column].astype(object)
    if LABEL in out.columns:
        out[LABEL] = out[LABEL].astype("int64")
    return out


def split_training_set(training_set: pl.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, holdout) pandas frames of a :func:`build_training_set` frame; both must be non-empty."""
    missing = [c for c in (SPLIT, LABEL) if c not in training_set.columns]
    if missing:
        raise ValueError(f"training set lacks columns {missing}")
    train = training_set.filter(pl.col(SPLIT) == TRAIN)
    holdout = training_set.filter(pl.col(SPLIT) == HOLDOUT)
    if train.is_empty() or holdout.is_empty():
        raise ValueError(f"training set needs train and holdout rows, got {train.height} and {holdout.height}")
    return to_model_frame(train), to_model_frame(holdout)


def split_summary(training_set: pl.DataFrame) -> pl.DataFrame:
    """Rows, positives and positive rate per split and cutoff."""
    return (
        training_set.group_by(SPLIT, CUTOFF)
        .agg(pl.len().alias("rows"), pl.col(LABEL).cast(pl.Int64).sum().alias("positives"))
        .with_columns((pl.col("positives") / pl.col("rows")).round(4).alias("positive_rate"))
        .sort(CUTOFF)
    )


def oracle_comparison(scores: pd.DataFrame, propensity: pd.DataFrame) -> dict[str, float]:
    """Model ROC-AUC vs the oracle's (the planted true propensity as score), on the same customers.

    ``scores``: ``customer_id``, ``score``; ``propensity``: ``user_id``, ``true_propensity``,
    ``will_purchase`` (ground_truth.customer_propensity). Returns model_roc_auc, oracle_roc_auc,
    ratio (model / oracle), customers, positives.
    """
    joined = scores.merge(propensity, left_on=CUSTOMER_ID, right_on="user_id", how="inner")
    y = joined["will_purchase"].astype(bool).to_numpy().astype(int)
    if len(np.unique(y)) < 2:
        raise ValueError(f"oracle comparison needs both outcomes among {len(y)} customers")
    model_auc = float(roc_auc_score(y, joined["score"].to_numpy(dtype=float)))
    oracle_auc = float(roc_auc_score(y, joined["true_propensity"].to_numpy(dtype=float)))
    return {
        "model_roc_auc": model_auc,
        "oracle_roc_auc": oracle_auc,
        "ratio": model_auc / oracle_auc if oracle_auc else float("nan"),
        "customers": float(len(y)),
        "positives": float(y.sum()),
    }
