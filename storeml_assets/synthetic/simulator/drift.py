"""Drift after the cut-over: the new traffic segment's sessions (random streams
``STREAM_DRIFT_BROWSE_TRAFFIC`` and ``STREAM_DRIFT_VISIT_TRAFFIC``), the documented drift
features and their planted before/after values (``ground_truth.drift_spec``).

The other drifts (channel mix, basket size and price) are drawn where those values are, from
the rows' ``post`` flags."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

from storeml_assets.synthetic import vocab
from storeml_assets.synthetic.simulator.common import History, pick
from storeml_assets.synthetic.simulator.config import DAY, DRIFT_EXTRA_SESSION_SHARE
from storeml_assets.synthetic.simulator.customers import Customers

#: drift features recorded in ground_truth.drift_spec when drift is on
DRIFT_FEATURES: dict[str, tuple[str, str, str]] = {
    "channel_mobile_share": (
        "orders",
        "channel",
        "share of orders (and sessions) on the 'mobile' channel; moves from about 0.30 to 0.55",
    ),
    "avg_order_value": (
        "orders",
        "total_amount",
        "mean order total; rises because baskets grow and shift to pricier products",
    ),
    "items_per_order": (
        "order_items",
        "order_id",
        "mean number of distinct products per order; 1 + Poisson(1.0) becomes 1 + Poisson(2.0)",
    ),
    "sessions_per_week": (
        "user_sessions",
        "started_at",
        "sessions per user per week; a new traffic segment doubles the browsing (non-order) sessions",
    ),
    "traffic_social_video_share": (
        "user_sessions",
        "traffic_source",
        "share of sessions from the new 'social_video' traffic segment; 0 before the cut-over",
    ),
}


@dataclass
class Traffic:
    """Sessions of one kind by row: user index and start (epoch seconds); ``extra`` marks the
    drift's new traffic segment, ``post`` the sessions after the cut-over (never without drift)."""

    user: np.ndarray
    start: np.ndarray
    extra: np.ndarray
    post: np.ndarray

    def __len__(self) -> int:
        return len(self.user)


def with_drift_traffic(
    history: History, component: int, customers: Customers, user: np.ndarray, start: np.ndarray
) -> Traffic:
    """The sessions ``user``/``start``, followed (with drift on) by the new traffic segment's:
    ``DRIFT_EXTRA_SESSION_SHARE`` x the sessions already after the cut-over, over customers
    still active then, drawn from random stream ``component``.

    The segment's own stream keeps every row before it, and every other stream, unchanged.
    """
    cut_ts = history.cut_ts
    extra = np.zeros(len(user), dtype=bool)
    if history.cfg.drift:
        rng = history.stream(component)
        n_extra = int(round(DRIFT_EXTRA_SESSION_SHARE * int(np.count_nonzero(start >= cut_ts))))
        eligible = customers.active_to > cut_ts + DAY
        x_user = pick(rng, np.cumsum(np.where(eligible, 0.3 + customers.g, 0.0)), n_extra)
        lo = np.maximum(customers.active_from[x_user], cut_ts).astype(np.float64)
        x_start = history.clock.sample(rng, lo, customers.active_to[x_user].astype(np.float64))
        user = np.concatenate([user, x_user])
        start = np.concatenate([start, x_start])
        extra = np.concatenate([extra, np.ones(len(x_user), dtype=bool)])
    post = (start >= cut_ts) if history.cfg.drift else np.zeros(len(start), dtype=bool)
    return Traffic(user, start, extra, post)


def _mean(series: pl.Series) -> float:
    value = series.cast(pl.Float64).mean()
    return float(value) if isinstance(value, int | float) else 0.0


def drift_features(
    orders: pl.DataFrame, order_items: pl.DataFrame, user_sessions: pl.DataFrame, n_users: int,
    since: datetime, until: datetime,
) -> dict[str, float]:
    """The documented drift features measured over [since, until) (also used by the tests)."""
    o = orders.filter(pl.col("ordered_at").is_between(since, until, closed="left"))
    s = user_sessions.filter(pl.col("started_at").is_between(since, until, closed="left"))
    weeks = (until - since).total_seconds() / (7 * DAY)
    items = order_items.join(o.select("order_id"), on="order_id", how="semi").height
    return {
        "channel_mobile_share": _mean(o["channel"] == "mobile"),
        "avg_order_value": _mean(o["total_amount"]),
        "items_per_order": items / max(o.height, 1),
        "sessions_per_week": s.height / weeks / max(n_users, 1),
        "traffic_social_video_share": _mean(s["traffic_source"] == vocab.DRIFT_TRAFFIC_SOURCE),
    }


def drift_truth(
    history: History, orders: pl.DataFrame, order_items: pl.DataFrame, user_sessions: pl.DataFrame, n_users: int
) -> pl.DataFrame:
    """``ground_truth.drift_spec``: each drift feature before and after the cut-over (empty without drift)."""
    cfg = history.cfg
    schema = {
        "feature_name": pl.String,
        "source_table": pl.String,
        "source_column": pl.String,
        "description": pl.String,
        "cut_over": pl.Date,
        "expected_before": pl.Float64,
        "expected_after": pl.Float64,
    }
    if not cfg.drift:
        return pl.DataFrame(schema=schema)
    start = datetime.fromtimestamp(history.start_ts, tz=UTC)
    cut = datetime.fromtimestamp(history.cut_ts, tz=UTC)
    end = datetime.fromtimestamp(history.end_ts, tz=UTC)
    before = drift_features(orders, order_items, user_sessions, n_users, start, cut)
    after = drift_features(orders, order_items, user_sessions, n_users, cut, end)
    rows = [
        {
            "feature_name": name,
            "source_table": table,
            "source_column": column,
            "description": description,
            "cut_over": cfg.cutover,
            "expected_before": before[name],
            "expected_after": after[name],
        }
        for name, (table, column, description) in DRIFT_FEATURES.items()
    ]
    return pl.DataFrame(rows, schema=schema)
