"""What every part of the simulator shares: the random streams, the clock and column helpers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import polars as pl

from storeml_assets.synthetic.simulator.config import (
    CHANNEL_P_AFTER,
    CHANNEL_P_BEFORE,
    DAY,
    SimulationConfig,
)
from storeml_assets.synthetic.simulator.demand import DemandCalendar, demand_calendar

# Component numbers of the random streams, one per part of the simulation. They are part of
# the data's identity: renumbering one changes every frame drawn from it.
STREAM_CATALOGUE = 1
STREAM_CUSTOMERS = 2
STREAM_PROMO_CODES = 3
STREAM_ORDERS = 4
STREAM_SESSIONS = 5
STREAM_STOREFRONT = 6
STREAM_CARTS = 7
STREAM_PROMOTIONS = 8
STREAM_PROFILES = 9
STREAM_DRIFT_BROWSE_TRAFFIC = 50
STREAM_VISITS = 51
STREAM_DRIFT_VISIT_TRAFFIC = 52
# STREAM_DEMAND = 63 (campaign uplifts) lives in ``demand``, which the clock uses.
STREAM_TASTE = 62

_DOW_WEIGHTS = np.array([0.90, 0.95, 0.95, 1.00, 1.10, 1.30, 1.25])  # Monday .. Sunday
_HOUR_WEIGHTS = np.array(
    [0.2, 0.12, 0.08, 0.06, 0.06, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.05,
     1.1, 1.05, 1.0, 1.0, 1.05, 1.15, 1.3, 1.45, 1.5, 1.35, 0.95, 0.5]
)


class Streams:
    """A fresh, independently seeded generator for every draw of one component.

    Draw ``i`` of component ``c`` always comes from seed ``(seed, c, i)``. A draw whose length
    changes (e.g. more order lines after a drift cut-over) then shifts no other draw, and a
    longer draw extends a shorter one, so rows before the cut-over do not depend on ``drift``.
    """

    def __init__(self, seed: int, component: int) -> None:
        self.seed = seed
        self.component = component
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        self.calls += 1
        generator = np.random.default_rng(np.random.SeedSequence([self.seed, self.component, self.calls]))
        return getattr(generator, name)


Rng = np.random.Generator | Streams


def pick(rng: Rng, cum: np.ndarray, size: int) -> np.ndarray:
    """Indices drawn with weights given as a cumulative array."""
    return np.searchsorted(cum, rng.random(size) * cum[-1], side="right")


def ts(col: np.ndarray | pl.Series) -> pl.Series:
    """Epoch seconds -> timestamptz (UTC, microseconds)."""
    return pl.Series(np.asarray(col, dtype=np.int64) * 1_000_000).cast(pl.Datetime("us", "UTC"))


def money(cents: np.ndarray) -> pl.Series:
    return (pl.Series(np.asarray(cents, dtype=np.int64)) / 100).cast(pl.Decimal(12, 2))


def nullable_ids(idx: np.ndarray) -> pl.Series:
    """index -> 1-based id, -1 -> null."""
    return pl.Series(np.where(idx >= 0, idx + 1, 0), dtype=pl.Int64).set(pl.Series(idx < 0), None)


def within_group_index(group_sizes: np.ndarray) -> np.ndarray:
    """0, 1, .. k-1 for each group of size k, concatenated."""
    total = int(group_sizes.sum())
    starts = np.repeat(np.cumsum(group_sizes) - group_sizes, group_sizes)
    return np.arange(total) - starts


def epoch(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


def draw_channel(rng: Rng, post: np.ndarray) -> np.ndarray:
    """Channel index (0 web, 1 mobile, 2 app) per row; the mix moves to mobile where ``post``."""
    u = rng.random(len(post))
    web = np.where(post, CHANNEL_P_AFTER[0], CHANNEL_P_BEFORE[0])
    mobile = web + np.where(post, CHANNEL_P_AFTER[1], CHANNEL_P_BEFORE[1])
    return np.where(u < web, 0, np.where(u < mobile, 1, 2)).astype(np.int64)


class Clock:
    """Weekly and daily seasonality with a mild upward trend, times each day's planted demand factor
    (yearly seasonality, holidays, promotion uplift: :mod:`~storeml_assets.synthetic.simulator.demand`),
    as an inverse-CDF time sampler."""

    def __init__(self, start_ts: int, days: int, start_weekday: int, day_factor: np.ndarray | None = None) -> None:
        hours = np.arange(days * 24)
        dow = (start_weekday + hours // 24) % 7
        weights = _DOW_WEIGHTS[dow] * _HOUR_WEIGHTS[hours % 24] * (1.0 + 0.15 * hours / len(hours))
        if day_factor is not None:
            weights = weights * np.repeat(np.asarray(day_factor, dtype=np.float64), 24)
        self.cum = np.concatenate([[0.0], np.cumsum(weights)])
        self.edges = start_ts + np.arange(len(hours) + 1, dtype=np.float64) * 3600.0

    def sample(self, rng: Rng, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """One timestamp (epoch seconds) per row, in [lo, hi), following the seasonality."""
        f_lo = np.interp(lo, self.edges, self.cum)
        f_hi = np.interp(hi, self.edges, self.cum)
        u = f_lo + rng.random(len(f_lo)) * (f_hi - f_lo)
        out = np.floor(np.interp(u, self.cum, self.edges)).astype(np.int64)
        return np.clip(out, lo.astype(np.int64), np.maximum(hi.astype(np.int64) - 1, lo.astype(np.int64)))


@dataclass(frozen=True)
class History:
    """The simulated period: its bounds in epoch seconds and its seasonal clock."""

    cfg: SimulationConfig
    start_ts: int  # first second of the history
    end_ts: int  # exclusive end of the history
    cut_ts: int  # first second of the drift cut-over day
    clock: Clock
    calendar: DemandCalendar  # the planted day factors the clock follows

    @classmethod
    def of(cls, cfg: SimulationConfig) -> History:
        start_ts = epoch(cfg.start_date)
        calendar = demand_calendar(cfg)
        return cls(
            cfg=cfg,
            start_ts=start_ts,
            end_ts=epoch(cfg.end_date) + DAY,
            cut_ts=epoch(cfg.cutover),
            clock=Clock(start_ts, cfg.days, cfg.start_date.weekday(), calendar.factor),
            calendar=calendar,
        )

    def stream(self, component: int) -> Streams:
        """The random stream of one component of this history's simulation."""
        return Streams(self.cfg.seed, component)
