"""Planted demand (random stream ``STREAM_DEMAND``): the calendar that moves order times, and the
oracle of each day's expected units.

The seasonal :class:`~storeml_assets.synthetic.simulator.common.Clock` spreads every customer's
orders over their active days. Besides its weekly and daily cycles and mild trend, each day
carries the factor of :func:`demand_calendar`:

- yearly seasonality, a retailer's: a peak season (a Gaussian bump of ``+PEAK_SEASON_UPLIFT`` around
  ``PEAK_SEASON_DAY``, mid-December) and the lull after it (``-POST_SEASON_LULL`` around late January),
  flat in between, so a history of spring to autumn barely sees it and two years of history see it twice;
- retail holidays (:func:`holiday_factor`: Black Friday, Cyber Monday, the December run-up,
  Labor Day...), a public calendar a storefront knows in advance;
- promotion uplift: the first ``PROMO_LAUNCH_DAYS`` days of each two-week campaign (the campaigns
  of ``promotion_db.promotion_campaigns``) sell more, by a factor drawn per campaign.

:func:`expected_demand` is the oracle, ``ground_truth.expected_demand``: for each day, the expected
units of every leaf category (``series = "category:<id>"``) and of every product
(``series = "product:<id>"``), given each customer's order count and active window. It follows
the simulation exactly: an order's time has the clock's density over the customer's window, its
basket draws ``min(1 + Poisson(mean), 8)`` products by popularity (deduplicated), plus the planted
bundles, and each line's quantity is 1, 2 or 3; after a drift cut-over baskets grow and shift to
pricier products, and so does the oracle.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from storeml_assets.synthetic.simulator.config import (
    BASKET_EXTRA_MEAN_AFTER,
    BASKET_EXTRA_MEAN_BEFORE,
    CAMPAIGN_DAYS,
    DAY,
    SimulationConfig,
)

if TYPE_CHECKING:
    from storeml_assets.synthetic.simulator.catalogue import Catalog
    from storeml_assets.synthetic.simulator.common import History
    from storeml_assets.synthetic.simulator.customers import Customers
    from storeml_assets.synthetic.simulator.orders import Bundle

#: Random stream of the campaign uplifts (kept apart so no other stream moves).
STREAM_DEMAND = 63
PEAK_SEASON_UPLIFT = 0.25
PEAK_SEASON_DAY = 345  # mid-December
POST_SEASON_LULL = 0.10
POST_SEASON_DAY = 25  # late January
SEASON_WIDTH_DAYS = 18.0
PROMO_LAUNCH_DAYS = 2
PROMO_UPLIFT_RANGE = (1.15, 1.40)
#: Quantity of one order line: 1, 2 or 3 with these cumulative probabilities (see ``orders.build_orders``).
QUANTITY_CUM = (0.82, 0.96, 1.0)
MAX_BASKET = 8


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The ``n``-th ``weekday`` (0 Monday) of a month; ``n = -1`` for the last one."""
    days = [d for d in range(1, calendar.monthrange(year, month)[1] + 1) if date(year, month, d).weekday() == weekday]
    return date(year, month, days[n])


def holiday_factor(day: date) -> tuple[float, str | None]:
    """The planted retail-holiday multiplier of one day and the holiday's name (1.0 and None on other days)."""
    y = day.year
    thanksgiving = _nth_weekday(y, 11, 3, 3)
    fixed: dict[date, tuple[float, str]] = {
        date(y, 1, 1): (0.70, "new_year"),
        _nth_weekday(y, 5, 6, 1): (1.20, "mothers_day"),
        _nth_weekday(y, 5, 0, -1): (1.25, "memorial_day"),
        date(y, 7, 4): (0.80, "independence_day"),
        _nth_weekday(y, 9, 0, 0): (1.25, "labor_day"),
        date(y, 10, 31): (0.85, "halloween"),
        thanksgiving: (0.80, "thanksgiving"),
        thanksgiving + timedelta(days=1): (1.90, "black_friday"),
        thanksgiving + timedelta(days=4): (1.70, "cyber_monday"),
        date(y, 12, 24): (0.80, "christmas_eve"),
        date(y, 12, 25): (0.50, "christmas"),
    }
    if day in fixed:
        return fixed[day]
    if date(y, 2, 7) <= day <= date(y, 2, 13):
        return 1.15, "valentines_week"
    if date(y, 12, 1) <= day <= date(y, 12, 20):
        return 1.25, "december_run_up"
    if date(y, 12, 26) <= day <= date(y, 12, 31):
        return 1.10, "year_end_sale"
    return 1.0, None


def _yearly_bump(day_of_year: np.ndarray, centre: float) -> np.ndarray:
    """A Gaussian bump of height 1 around ``centre``, on the circular distance within a year."""
    distance = np.abs(day_of_year - centre) % 365.25
    distance = np.minimum(distance, 365.25 - distance)
    return np.exp(-0.5 * (distance / SEASON_WIDTH_DAYS) ** 2)


@dataclass(frozen=True)
class DemandCalendar:
    """The planted day factors of one history, by day index (0 = ``cfg.start_date``)."""

    days: list[date]
    yearly: np.ndarray
    holiday: np.ndarray
    holiday_name: list[str | None]
    promotion: np.ndarray

    @property
    def factor(self) -> np.ndarray:
        """The product of the three: the clock's weight of each day."""
        return self.yearly * self.holiday * self.promotion


def demand_calendar(cfg: SimulationConfig) -> DemandCalendar:
    """Yearly seasonality, holidays and campaign-launch uplift for every day of ``cfg``'s history."""
    days = [cfg.start_date + timedelta(days=i) for i in range(cfg.days)]
    doy = np.array([d.timetuple().tm_yday for d in days], dtype=np.float64)
    yearly = (1.0 + PEAK_SEASON_UPLIFT * _yearly_bump(doy, PEAK_SEASON_DAY)
              - POST_SEASON_LULL * _yearly_bump(doy, POST_SEASON_DAY))
    holidays = [holiday_factor(d) for d in days]
    n_campaigns = math.ceil(cfg.days / CAMPAIGN_DAYS)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, STREAM_DEMAND, 1]))
    uplift = rng.uniform(*PROMO_UPLIFT_RANGE, n_campaigns)
    index = np.arange(cfg.days)
    promotion = np.where(index % CAMPAIGN_DAYS < PROMO_LAUNCH_DAYS, uplift[index // CAMPAIGN_DAYS], 1.0)
    return DemandCalendar(days, yearly, np.array([h[0] for h in holidays]), [h[1] for h in holidays], promotion)


#: ``choice(users, post) -> (len(users), n_products)``: each customer's probability that one order line is
#: each product (rows sum to 1), before (``post`` False) or after a drift cut-over.
Choice = Callable[[np.ndarray, bool], np.ndarray]
#: Customers per block of the oracle's computation (bounds its memory at any scale).
_BLOCK = 1_000


def popularity_choice(cat: Catalog) -> Choice:
    """Every customer picks products by the catalogue's popularity (premium-tilted after a cut-over)."""
    before = np.diff(cat.popularity_cum, prepend=0.0) / cat.popularity_cum[-1]
    after = np.diff(cat.premium_cum, prepend=0.0) / cat.premium_cum[-1]

    def choice(users: np.ndarray, post: bool) -> np.ndarray:
        return np.broadcast_to(after if post else before, (len(users), len(before)))

    return choice


def taste_choice(taste: Any) -> Choice:
    """Each customer picks products by appeal times the exp of their (leaf, brand) cell's log-affinity
    (``taste.Taste``: the distribution its ``choose`` draws from)."""
    n_cells = len(taste.cell_start) - 1
    cell_of_product = np.empty(len(taste.popularity), dtype=np.int64)
    cell_of_product[taste.cell_order] = np.repeat(np.arange(n_cells), np.diff(taste.cell_start))

    def choice(users: np.ndarray, post: bool) -> np.ndarray:
        appeal = taste.premium if post else taste.popularity
        weights = appeal[None, :] * np.exp(taste.log_affinity(users))[:, cell_of_product]
        return weights / weights.sum(axis=1, keepdims=True)

    return choice


def expected_orders_by_customer(history: History, customers: Customers, users: np.ndarray) -> np.ndarray:
    """(len(users), days): each customer's expected orders on each day of the history, given their order
    count: the clock's mass of the day within their active window over the mass of the whole window."""
    clock = history.clock
    lo = customers.active_from[users].astype(np.float64)
    hi = customers.active_to[users].astype(np.float64)
    n = customers.n_orders[users].astype(np.float64)
    edges = history.start_ts + np.arange(history.cfg.days + 1, dtype=np.float64) * DAY
    clipped = np.clip(edges[None, :], lo[:, None], hi[:, None])
    mass = np.interp(clipped.ravel(), clock.edges, clock.cum).reshape(clipped.shape)
    window = mass[:, -1] - mass[:, 0]
    scale = np.divide(n, window, out=np.zeros_like(n), where=window > 0)
    return np.diff(mass, axis=1) * scale[:, None]


def _basket_size_pmf(extra_mean: float) -> np.ndarray:
    """P(K = k) for k = 0..MAX_BASKET of ``K = min(1 + Poisson(extra_mean), MAX_BASKET)``."""
    extra = np.arange(MAX_BASKET - 1)
    pmf = np.exp(-extra_mean) * extra_mean ** extra / np.array([math.factorial(int(k)) for k in extra])
    out = np.zeros(MAX_BASKET + 1)
    out[1:MAX_BASKET] = pmf
    out[MAX_BASKET] = 1.0 - pmf.sum()
    return out


def units_per_order(probs: np.ndarray, extra_mean: float, bundles: list[Bundle]) -> np.ndarray:
    """Expected units of each product in one order (rows: customers): P(product in the basket) x mean
    quantity, the basket being ``K`` draws by ``probs`` (deduplicated) plus each planted bundle's hit.
    ``P(missed) = E[(1 - p)^K]`` is the basket size's generating function, evaluated in place by Horner's
    rule (the arrays are customers x products)."""
    pmf = _basket_size_pmf(extra_mean).astype(probs.dtype)
    keep = 1.0 - probs
    missed = np.full(probs.shape, pmf[-1], dtype=probs.dtype)
    for p_k in pmf[-2::-1]:
        missed *= keep
        missed += p_k
    del keep
    for members, probability in bundles:
        missed[..., np.array(members, dtype=np.int64)] *= 1.0 - probability
    q = np.diff(np.concatenate([[0.0], np.array(QUANTITY_CUM)]))
    mean_quantity = float(np.dot(q, np.arange(1, len(q) + 1)))
    np.subtract(1.0, missed, out=missed)
    missed *= mean_quantity
    return missed


def expected_units(history: History, customers: Customers, bundles: list[Bundle], choice: Choice,
                   n_products: int) -> tuple[np.ndarray, np.ndarray]:
    """(days, n_products) expected units of each product on each day, and (days,) expected orders."""
    cfg = history.cfg
    cut_day = (history.cut_ts - history.start_ts) // DAY
    post_days = (np.arange(cfg.days) >= cut_day) & cfg.drift
    units = np.zeros((cfg.days, n_products))
    orders = np.zeros(cfg.days)
    for first in range(0, customers.n, _BLOCK):
        users = np.arange(first, min(first + _BLOCK, customers.n))
        per_day = expected_orders_by_customer(history, customers, users)
        orders += per_day.sum(axis=0)
        for post, extra_mean in ((False, BASKET_EXTRA_MEAN_BEFORE), (True, BASKET_EXTRA_MEAN_AFTER)):
            days = post_days if post else ~post_days
            if days.any():
                per_order = units_per_order(choice(users, post), extra_mean, bundles)
                units[days] += per_day[:, days].T @ per_order
    return units, orders


def expected_demand(history: History, cat: Catalog, customers: Customers, bundles: list[Bundle],
                    choice: Choice | None = None) -> pl.DataFrame:
    """``ground_truth.expected_demand``: (series, date, expected_units) per leaf category and per product,
    with the day's expected orders and planted factors (yearly, holiday, promotion) beside them.
    ``choice`` is how customers pick products (default: by popularity)."""
    cfg = history.cfg
    n_products = len(cat.price_cents)
    per_product, orders = expected_units(history, customers, bundles, choice or popularity_choice(cat), n_products)
    leaf_ids = cat.categories.filter(pl.col("parent_category_id").is_not_null())["category_id"].to_numpy()
    per_leaf = np.stack([per_product[:, cat.category_index == leaf].sum(axis=1) for leaf in range(len(leaf_ids))],
                        axis=1)
    cal = history.calendar
    series = [f"category:{c}" for c in leaf_ids] + [f"product:{p}" for p in range(1, n_products + 1)]
    units = np.concatenate([per_leaf, per_product], axis=1)  # day x series
    n_series = len(series)
    return pl.DataFrame(
        {
            "series": np.tile(np.array(series, dtype=object), cfg.days),
            "date": pl.Series(np.repeat(np.array(cal.days, dtype="datetime64[D]"), n_series)).cast(pl.Date),
            "expected_units": units.reshape(-1),
            "expected_orders": np.repeat(orders, n_series),
            "yearly_factor": np.repeat(cal.yearly, n_series),
            "holiday_factor": np.repeat(cal.holiday, n_series),
            "promotion_factor": np.repeat(cal.promotion, n_series),
        },
        schema={"series": pl.String, "date": pl.Date, "expected_units": pl.Float64, "expected_orders": pl.Float64,
                "yearly_factor": pl.Float64, "holiday_factor": pl.Float64, "promotion_factor": pl.Float64},
    )
