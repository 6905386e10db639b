"""Vectorized, seeded storefront simulator.

``simulate(config)`` returns, per source database, a mapping table -> polars DataFrame whose
columns match the DDL in ``sql/<database>/`` (a subset: ``created_at``/``updated_at`` come from
column defaults unless the table uses ``created_at`` as its event time), plus the planted ground
truth that tests and the ML assets read (``ground_truth`` schema in the ``storeml`` database).

All randomness flows from ``config.seed`` through one child generator per component, and every
frame is built in a fixed row order, so the same config gives identical frames.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from storeml_assets.synthetic import vocab
from storeml_assets.synthetic.scales import ScalePreset, scale_preset

DAY = 86_400
DEFAULT_END_DATE = date(2026, 10, 31)
PROPENSITY_HORIZON_DAYS = 30
CAMPAIGN_DAYS = 14

CHANNELS = ("web", "mobile", "app")
CHANNEL_P_BEFORE = (0.55, 0.30, 0.15)
CHANNEL_P_AFTER = (0.30, 0.55, 0.15)
BASKET_EXTRA_MEAN_BEFORE = 1.0
BASKET_EXTRA_MEAN_AFTER = 2.0
PROMO_RATE = 0.12
REVIEW_RATE = 0.10
#: Share of customers who churn within 180 days of becoming active; churn is a constant hazard.
CHURN_RATE = 0.35
CHURN_HAZARD_PER_DAY = -math.log1p(-CHURN_RATE) / 180.0
#: A churned customer still buys at this fraction of their former rate after the history.
DORMANT_RATE_FACTOR = 0.03
#: Sessions without an order per order: browse sessions view products (and may click, add to a
#: cart or a wishlist); visits leave without touching a product. Together 2.6 sessions without
#: an order per order, i.e. under 30% of the sessions convert.
BROWSE_SESSIONS_PER_ORDER = 0.6
VISIT_SESSIONS_PER_ORDER = 2.0
DRIFT_EXTRA_SESSION_SHARE = 1.0

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

_DOW_WEIGHTS = np.array([0.90, 0.95, 0.95, 1.00, 1.10, 1.30, 1.25])  # Monday .. Sunday
_HOUR_WEIGHTS = np.array(
    [0.2, 0.12, 0.08, 0.06, 0.06, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.05,
     1.1, 1.05, 1.0, 1.0, 1.05, 1.15, 1.3, 1.45, 1.5, 1.35, 0.95, 0.5]
)


@dataclass(frozen=True)
class SimulationConfig:
    """Knobs of one simulated storefront history."""

    seed: int = 42
    scale: str = "tiny"
    days: int = 180
    end_date: date = DEFAULT_END_DATE
    drift: bool = False
    drift_cutover: date | None = None
    n_bundles: int = 10

    def __post_init__(self) -> None:
        scale_preset(self.scale)
        if self.days < 30:
            raise ValueError(f"days must be at least 30, got {self.days}")
        if not 0 <= self.n_bundles <= 40:
            raise ValueError(f"n_bundles must be between 0 and 40, got {self.n_bundles}")
        cut = self.cutover
        if not self.start_date < cut <= self.end_date:
            raise ValueError(
                f"drift_cutover {cut} must fall inside the history {self.start_date} .. {self.end_date}"
            )

    @property
    def preset(self) -> ScalePreset:
        return scale_preset(self.scale)

    @property
    def start_date(self) -> date:
        """First day of the history (the history covers ``days`` days ending with ``end_date``)."""
        return self.end_date - timedelta(days=self.days - 1)

    @property
    def cutover(self) -> date:
        """Drift cut-over day (default 30 days before ``end_date``)."""
        return self.drift_cutover or (self.end_date - timedelta(days=30))

    @property
    def propensity_period(self) -> tuple[date, date]:
        """The days after the history that ``customer_propensity`` predicts (inclusive)."""
        start = self.end_date + timedelta(days=1)
        return start, start + timedelta(days=PROPENSITY_HORIZON_DAYS - 1)

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["end_date"] = self.end_date.isoformat()
        out["drift_cutover"] = self.cutover.isoformat()
        out["start_date"] = self.start_date.isoformat()
        return out


@dataclass
class SimulatedData:
    """Generated tables per source database, plus the planted ground truth."""

    config: SimulationConfig
    databases: dict[str, dict[str, pl.DataFrame]]
    ground_truth: dict[str, pl.DataFrame]
    generated_at: datetime
    timings: dict[str, float] = field(default_factory=dict)

    def table(self, name: str) -> pl.DataFrame:
        """One source table by name, whichever database holds it."""
        for tables in self.databases.values():
            if name in tables:
                return tables[name]
        if name in self.ground_truth:
            return self.ground_truth[name]
        raise KeyError(f"no simulated table named {name!r}")

    def row_counts(self) -> dict[str, int]:
        counts = {f"{db}.{t}": df.height for db, tables in self.databases.items() for t, df in tables.items()}
        counts.update({f"ground_truth.{t}": df.height for t, df in self.ground_truth.items()})
        return counts

    def simulation_run(self) -> dict[str, Any]:
        """The ``ground_truth.simulation_runs`` row describing this data set."""
        cfg = self.config
        return {
            "seed": cfg.seed,
            "scale": cfg.scale,
            "start_date": cfg.start_date,
            "end_date": cfg.end_date,
            "days": cfg.days,
            "drift": cfg.drift,
            "drift_cutover": cfg.cutover if cfg.drift else None,
            "n_bundles": cfg.n_bundles,
            "row_counts": self.row_counts(),
            "config": cfg.as_dict(),
            "generated_at": self.generated_at,
        }


# ---------------------------------------------------------------------------------------------
# helpers


class _Streams:
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


Rng = np.random.Generator | _Streams


def _pick(rng: Rng, cum: np.ndarray, size: int) -> np.ndarray:
    """Indices drawn with weights given as a cumulative array."""
    return np.searchsorted(cum, rng.random(size) * cum[-1], side="right")


def _ts(col: np.ndarray | pl.Series) -> pl.Series:
    """Epoch seconds -> timestamptz (UTC, microseconds)."""
    return pl.Series(np.asarray(col, dtype=np.int64) * 1_000_000).cast(pl.Datetime("us", "UTC"))


def _money(cents: np.ndarray) -> pl.Series:
    return (pl.Series(np.asarray(cents, dtype=np.int64)) / 100).cast(pl.Decimal(12, 2))


def _within_group_index(group_sizes: np.ndarray) -> np.ndarray:
    """0, 1, .. k-1 for each group of size k, concatenated."""
    total = int(group_sizes.sum())
    starts = np.repeat(np.cumsum(group_sizes) - group_sizes, group_sizes)
    return np.arange(total) - starts


def _epoch(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


class _Clock:
    """Weekly and daily seasonality with a mild upward trend, as an inverse-CDF time sampler."""

    def __init__(self, start_ts: int, days: int, start_weekday: int) -> None:
        hours = np.arange(days * 24)
        dow = (start_weekday + hours // 24) % 7
        weights = _DOW_WEIGHTS[dow] * _HOUR_WEIGHTS[hours % 24] * (1.0 + 0.15 * hours / len(hours))
        self.cum = np.concatenate([[0.0], np.cumsum(weights)])
        self.edges = start_ts + np.arange(len(hours) + 1, dtype=np.float64) * 3600.0

    def sample(self, rng: Rng, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """One timestamp (epoch seconds) per row, in [lo, hi), following the seasonality."""
        f_lo = np.interp(lo, self.edges, self.cum)
        f_hi = np.interp(hi, self.edges, self.cum)
        u = f_lo + rng.random(len(f_lo)) * (f_hi - f_lo)
        out = np.floor(np.interp(u, self.cum, self.edges)).astype(np.int64)
        return np.clip(out, lo.astype(np.int64), np.maximum(hi.astype(np.int64) - 1, lo.astype(np.int64)))


# ---------------------------------------------------------------------------------------------
# catalog


@dataclass
class _Catalog:
    categories: pl.DataFrame
    products: pl.DataFrame
    variants: pl.DataFrame
    images: pl.DataFrame
    inventory: pl.DataFrame
    price_cents: np.ndarray  # by product index
    category_index: np.ndarray  # leaf category index by product index
    top_name_by_leaf: list[str]
    leaf_name: list[str]
    n_variants: np.ndarray
    variant_start: np.ndarray
    variant_delta_cents: np.ndarray
    popularity_cum: np.ndarray
    premium_cum: np.ndarray
    popularity_rank: np.ndarray
    quality: np.ndarray
    names: np.ndarray
    nouns: np.ndarray


def _build_catalog(cfg: SimulationConfig, preset: ScalePreset) -> _Catalog:
    rng = _Streams(cfg.seed, 1)
    cat_ids: list[int] = []
    cat_names: list[str] = []
    cat_parent: list[int | None] = []
    cat_desc: list[str] = []
    leaf_ids: list[int] = []
    leaf_name: list[str] = []
    leaf_top: list[str] = []
    leaf_nouns: list[tuple[str, ...]] = []
    next_id = 1
    for top, (_, _, subs) in vocab.CATALOG.items():
        top_id = next_id
        cat_ids.append(top_id)
        cat_names.append(top)
        cat_parent.append(None)
        cat_desc.append(f"All {top.lower()}")
        next_id += 1
        for sub, sub_nouns in subs.items():
            cat_ids.append(next_id)
            cat_names.append(sub)
            cat_parent.append(top_id)
            cat_desc.append(f"{sub} in {top}")
            leaf_ids.append(next_id)
            leaf_name.append(sub)
            leaf_top.append(top)
            leaf_nouns.append(sub_nouns)
            next_id += 1
    categories = pl.DataFrame(
        {
            "category_id": pl.Series(cat_ids, dtype=pl.Int64),
            "name": cat_names,
            "parent_category_id": pl.Series(cat_parent, dtype=pl.Int64),
            "description": cat_desc,
        }
    )

    n = preset.n_products
    leaf = rng.integers(0, len(leaf_ids), n)
    base_price = np.array([vocab.CATALOG[leaf_top[i]][0] for i in range(len(leaf_ids))])
    price = np.exp(rng.normal(np.log(base_price[leaf]), 0.55))
    price_cents = (np.maximum(np.round(price), 2) * 100 - 1).astype(np.int64)  # x.99 pricing
    cost_cents = np.round(price_cents * rng.uniform(0.5, 0.75, n)).astype(np.int64)
    brand_idx = rng.integers(0, 5, n)
    adj_idx = rng.integers(0, len(vocab.ADJECTIVES), n)
    noun_idx = rng.integers(0, 1_000_000, n)
    names = np.empty(n, dtype=object)
    nouns = np.empty(n, dtype=object)
    brands = np.empty(n, dtype=object)
    for i in range(n):
        top = leaf_top[leaf[i]]
        noun_bank = leaf_nouns[leaf[i]]
        noun = noun_bank[noun_idx[i] % len(noun_bank)]
        brand = vocab.CATALOG[top][1][brand_idx[i]]
        nouns[i] = noun.lower()
        brands[i] = brand
        names[i] = f"{brand} {vocab.ADJECTIVES[adj_idx[i]]} {noun} {100 + i % 900}"
    product_ids = np.arange(1, n + 1, dtype=np.int64)
    start_ts = _epoch(cfg.start_date)
    launched = start_ts - rng.integers(30, 3 * 365, n) * DAY
    products = pl.DataFrame(
        {
            "product_id": product_ids,
            "sku": [f"SKU-{i:06d}" for i in product_ids],
            "name": names.astype(str),
            "description": [f"{nm}: a {lf.lower()} product by {br}." for nm, lf, br in
                            zip(names, (leaf_name[j] for j in leaf), brands, strict=True)],
            "category_id": np.array(leaf_ids, dtype=np.int64)[leaf],
            "brand": brands.astype(str),
            "price": _money(price_cents),
            "cost": _money(cost_cents),
            "is_active": rng.random(n) > 0.03,
            "launched_at": pl.Series(launched * 1_000_000).cast(pl.Datetime("us")).dt.date(),
        }
    )

    # variants: sized categories get 4 sizes, coloured ones 2-3 colours, the rest none
    top_of_product = np.array([leaf_top[j] for j in leaf], dtype=object)
    sized = np.isin(top_of_product, vocab.SIZED_CATEGORIES)
    coloured = np.isin(top_of_product, vocab.COLOURED_CATEGORIES)
    n_var = np.where(sized, len(vocab.SIZES), np.where(coloured, rng.integers(2, 4, n), 0)).astype(np.int64)
    var_start = np.cumsum(n_var) - n_var
    v_prod = np.repeat(np.arange(n), n_var)
    v_k = _within_group_index(n_var)
    v_sized = sized[v_prod]
    size_col = np.asarray(np.where(v_sized, np.array(vocab.SIZES, dtype=object)[np.minimum(v_k, 3)], None), dtype=object)
    color_col: np.ndarray = np.array(vocab.COLORS, dtype=object)[(v_k + v_prod) % len(vocab.COLORS)]
    delta_cents = np.where(v_sized & (v_k == 3), 200, np.where(~v_sized & (v_k == 2), 500, 0)).astype(np.int64)
    variants = pl.DataFrame(
        {
            "variant_id": np.arange(1, len(v_prod) + 1, dtype=np.int64),
            "product_id": product_ids[v_prod],
            "variant_sku": [f"SKU-{product_ids[p]:06d}-{k}" for p, k in zip(v_prod, v_k, strict=True)],
            "size": pl.Series(size_col.tolist(), dtype=pl.String),
            "color": pl.Series(color_col.tolist(), dtype=pl.String),
            "price_delta": _money(delta_cents),
            "stock_quantity": rng.integers(0, 400, len(v_prod)).astype(np.int32),
        }
    )

    n_img = rng.integers(1, 5, n)
    i_prod = np.repeat(np.arange(n), n_img)
    i_k = _within_group_index(n_img)
    images = pl.DataFrame(
        {
            "image_id": np.arange(1, len(i_prod) + 1, dtype=np.int64),
            "product_id": product_ids[i_prod],
            "url": [f"https://cdn.example-store.com/products/SKU-{product_ids[p]:06d}/{k}.jpg"
                    for p, k in zip(i_prod, i_k, strict=True)],
            "alt_text": names[i_prod].astype(str),
            "is_primary": i_k == 0,
            "sort_order": i_k.astype(np.int32),
        }
    )

    # popularity: Zipf over a random ranking of the products
    rank = rng.permutation(n)
    popularity = 1.0 / np.power(rank + 1.0, 1.05)
    popularity_cum = np.cumsum(popularity)
    premium_cum = np.cumsum(popularity * np.power(price_cents / np.median(price_cents), 0.6))

    n_wh = len(vocab.WAREHOUSES)
    inv_prod = np.repeat(np.arange(n), n_wh)
    demand = popularity / popularity.sum() * preset.n_orders
    on_hand = rng.poisson(5 + demand[inv_prod] * 0.05).astype(np.int32)
    end_ts = _epoch(cfg.end_date)
    inventory = pl.DataFrame(
        {
            "inventory_id": np.arange(1, len(inv_prod) + 1, dtype=np.int64),
            "product_id": product_ids[inv_prod],
            "warehouse": np.tile(np.array(vocab.WAREHOUSES), n),
            "quantity_on_hand": on_hand,
            "quantity_reserved": np.minimum(rng.poisson(2, len(inv_prod)), on_hand).astype(np.int32),
            "reorder_level": np.full(len(inv_prod), 10, dtype=np.int32),
            "last_restocked_at": _ts(end_ts - rng.integers(0, 60 * DAY, len(inv_prod))),
        }
    )
    return _Catalog(
        categories=categories,
        products=products,
        variants=variants,
        images=images,
        inventory=inventory,
        price_cents=price_cents,
        category_index=leaf,
        top_name_by_leaf=leaf_top,
        leaf_name=leaf_name,
        n_variants=n_var,
        variant_start=var_start,
        variant_delta_cents=delta_cents,
        popularity_cum=popularity_cum,
        premium_cum=premium_cum,
        popularity_rank=rank,
        quality=rng.normal(0.0, 0.6, n),
        names=names.astype(str),
        nouns=nouns.astype(str),
    )


def _future_purchase(
    order_rate: np.ndarray, churned: np.ndarray, days_to_churn: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's true probability of an order in the ``PROPENSITY_HORIZON_DAYS`` after the
    history, and the active days they actually get in that period (for drawing the outcome).

    An active customer buys at ``order_rate`` per day until they churn (hazard
    ``CHURN_HAZARD_PER_DAY``, so the propensity is ``(1 - exp(-H (h + r))) r / (h + r)`` over a
    horizon ``H``); a churned one at ``DORMANT_RATE_FACTOR`` of it. The outcome uses the realised
    churn time, the propensity only what is known at the end of the history.
    """
    horizon, hazard = float(PROPENSITY_HORIZON_DAYS), CHURN_HAZARD_PER_DAY
    alive = -np.expm1(-horizon * (hazard + order_rate)) * order_rate / (hazard + order_rate)
    dormant = -np.expm1(-horizon * order_rate * DORMANT_RATE_FACTOR)
    propensity = np.where(churned, dormant, alive)
    future_days = np.where(churned, horizon * DORMANT_RATE_FACTOR, np.clip(days_to_churn, 0.0, horizon))
    return propensity, future_days


def _pick_variant(rng: Rng, cat: _Catalog, prod: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A random variant index (or -1) per product row, and its price delta in cents."""
    nv = cat.n_variants[prod]
    vidx = cat.variant_start[prod] + np.floor(rng.random(len(prod)) * np.maximum(nv, 1)).astype(np.int64)
    has = nv > 0
    vidx = np.where(has, vidx, -1)
    delta = np.where(has, cat.variant_delta_cents[np.where(has, vidx, 0)] if len(cat.variant_delta_cents) else 0, 0)
    return vidx, delta.astype(np.int64)


def _nullable_ids(idx: np.ndarray) -> pl.Series:
    """index -> 1-based id, -1 -> null."""
    return pl.Series(np.where(idx >= 0, idx + 1, 0), dtype=pl.Int64).set(pl.Series(idx < 0), None)


# ---------------------------------------------------------------------------------------------
# the simulation


def simulate(config: SimulationConfig) -> SimulatedData:
    """Generate every source table and the ground truth for ``config``."""
    import time

    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    cfg = config
    preset = cfg.preset
    start_ts = _epoch(cfg.start_date)
    end_ts = _epoch(cfg.end_date) + DAY  # exclusive end of the history
    cut_ts = _epoch(cfg.cutover)
    clock = _Clock(start_ts, cfg.days, cfg.start_date.weekday())

    t0 = time.perf_counter()
    cat = _build_catalog(cfg, preset)
    n_products = preset.n_products
    timings["catalog"] = time.perf_counter() - t0

    # ---- users and their latent purchase rate -------------------------------------------------
    t0 = time.perf_counter()
    rng = _Streams(cfg.seed, 2)
    n_users = preset.n_users
    g = rng.gamma(0.6, 1 / 0.6, n_users)
    is_new = rng.random(n_users) < 0.35
    signup_new = clock.sample(rng, np.full(n_users, start_ts, np.float64), np.full(n_users, end_ts, np.float64))
    signup_old = start_ts - rng.integers(DAY, 730 * DAY, n_users)
    signup = np.where(is_new, signup_new, signup_old).astype(np.int64)
    active_from = np.maximum(signup, start_ts)
    # churn: an exponential lifetime from the start of activity (a constant hazard that goes on
    # after the history ends, so the 30 days after any cutoff look alike, the last one included)
    churn_at = active_from + (rng.exponential(1.0 / CHURN_HAZARD_PER_DAY, n_users) * DAY).astype(np.int64)
    churned = churn_at < end_ts
    active_to = np.minimum(churn_at, end_ts)
    active_days = (active_to - active_from) / DAY
    base_rate = preset.n_orders / float(np.sum(g * active_days))
    n_orders_u = rng.poisson(base_rate * g * active_days)
    true_propensity, future_days = _future_purchase(base_rate * g, churned, (churn_at - end_ts) / DAY)
    will_purchase = rng.random(n_users) < -np.expm1(-base_rate * g * future_days)

    country_codes = list(vocab.COUNTRIES)
    country_cum = np.cumsum([vocab.COUNTRIES[c][0] for c in country_codes])
    country_idx = _pick(rng, country_cum, n_users)
    city = np.array(
        [vocab.COUNTRIES[country_codes[c]][1][k % len(vocab.COUNTRIES[country_codes[c]][1])]
         for c, k in zip(country_idx, rng.integers(0, 1000, n_users), strict=True)],
        dtype=object,
    )
    first = np.array(vocab.FIRST_NAMES, dtype=object)[rng.integers(0, len(vocab.FIRST_NAMES), n_users)]
    last = np.array(vocab.LAST_NAMES, dtype=object)[rng.integers(0, len(vocab.LAST_NAMES), n_users)]
    user_ids = np.arange(1, n_users + 1, dtype=np.int64)
    domains = np.array(vocab.EMAIL_DOMAINS, dtype=object)[rng.integers(0, len(vocab.EMAIL_DOMAINS), n_users)]
    prefix = np.array([vocab.COUNTRIES[c][2] for c in country_codes], dtype=object)[country_idx]
    dob_ts = end_ts - (rng.uniform(18, 75, n_users) * 365.25 * DAY).astype(np.int64)
    users = pl.DataFrame(
        {
            "user_id": user_ids,
            "first_name": first.astype(str),
            "last_name": last.astype(str),
            "domain": domains.astype(str),
            "phone_prefix": prefix.astype(str),
            "phone_num": rng.integers(1_000_000, 9_999_999, n_users),
            "dob": pl.Series(dob_ts * 1_000_000).cast(pl.Datetime("us")).dt.date(),
            "country": np.array(country_codes)[country_idx],
            "city": city.astype(str),
            "signup_at": _ts(signup),
            "is_active": ~(churned & (rng.random(n_users) < 0.3)),
        }
    ).select(
        "user_id",
        pl.concat_str(
            [pl.col("first_name").str.to_lowercase(), pl.lit("."), pl.col("last_name").str.to_lowercase(),
             pl.col("user_id").cast(pl.String), pl.lit("@"), pl.col("domain")]
        ).alias("email"),
        "first_name",
        "last_name",
        "dob",
        pl.concat_str([pl.col("phone_prefix"), pl.lit("-555-"), pl.col("phone_num").cast(pl.String)]).alias("phone"),
        "country",
        "city",
        "signup_at",
        "is_active",
    )
    timings["users"] = time.perf_counter() - t0

    # ---- promotions (needed by orders) -----------------------------------------------------------
    rng = _Streams(cfg.seed, 3)
    n_campaigns = math.ceil(cfg.days / CAMPAIGN_DAYS)
    camp_start = start_ts + np.arange(n_campaigns) * CAMPAIGN_DAYS * DAY
    camp_end = np.minimum(camp_start + CAMPAIGN_DAYS * DAY, end_ts)
    pct_choices = np.array([10, 15, 20, 25])
    fixed_choices = np.array([5, 10, 15, 20])
    # code 0: WELCOME10 (10 %), code 1: SAVE5 (5 off 50); then two codes per campaign
    code_names = ["WELCOME10", "SAVE5"]
    code_type = ["percent", "fixed"]
    code_value = [10, 5]  # percent or dollars
    code_min = [0, 5000]  # cents
    code_from = [start_ts - 365 * DAY, start_ts - 365 * DAY]
    code_to = [end_ts + 365 * DAY, end_ts + 365 * DAY]
    theme = [vocab.CAMPAIGN_THEMES[c % len(vocab.CAMPAIGN_THEMES)] for c in range(n_campaigns)]
    for c in range(n_campaigns):
        pct = int(pct_choices[rng.integers(0, 4)])
        fixed = int(fixed_choices[rng.integers(0, 4)])
        tag = "".join(w[0] for w in theme[c].split()).upper()
        code_names += [f"{tag}{c + 1:02d}PCT{pct}", f"{tag}{c + 1:02d}OFF{fixed}"]
        code_type += ["percent", "fixed"]
        code_value += [pct, fixed]
        code_min += [0, fixed * 500]
        code_from += [int(camp_start[c])] * 2
        code_to += [int(camp_end[c])] * 2
    code_type_a = np.array(code_type)
    code_value_a = np.array(code_value, dtype=np.int64)
    code_min_a = np.array(code_min, dtype=np.int64)
    code_to_a = np.array(code_to, dtype=np.int64)
    n_codes = len(code_names)

    # ---- orders ----------------------------------------------------------------------------------
    t0 = time.perf_counter()
    rng = _Streams(cfg.seed, 4)
    o_user = np.repeat(np.arange(n_users), n_orders_u)
    o_time = clock.sample(rng, active_from[o_user].astype(np.float64), active_to[o_user].astype(np.float64))
    perm = np.argsort(o_time, kind="stable")
    o_user = o_user[perm]
    o_time = o_time[perm]
    n_orders = len(o_time)
    o_post = (o_time >= cut_ts) if cfg.drift else np.zeros(n_orders, dtype=bool)
    o_channel = _draw_channel(rng, o_post)

    # both draws always happen so that the rows before the cut-over do not depend on ``drift``
    k_before = rng.poisson(BASKET_EXTRA_MEAN_BEFORE, n_orders)
    k_after = rng.poisson(BASKET_EXTRA_MEAN_AFTER, n_orders)
    k = 1 + np.where(o_post, k_after, k_before)
    k = np.minimum(k, 8)
    it_order = np.repeat(np.arange(n_orders), k)
    it_post = o_post[it_order]
    u = rng.random(len(it_order))
    it_prod = np.where(
        it_post,
        np.searchsorted(cat.premium_cum, u * cat.premium_cum[-1], side="right"),
        np.searchsorted(cat.popularity_cum, u * cat.popularity_cum[-1], side="right"),
    )
    bundles = _plan_bundles(rng, cfg, cat, n_products)
    extra_orders = [it_order]
    extra_prods = [it_prod]
    for members, prob in bundles:
        hit = np.nonzero(rng.random(n_orders) < prob)[0]
        extra_orders.append(np.repeat(hit, len(members)))
        extra_prods.append(np.tile(np.array(members, dtype=np.int64), len(hit)))
    key = np.concatenate(extra_orders).astype(np.int64) * n_products + np.concatenate(extra_prods)
    key = np.unique(key)
    it_order = key // n_products
    it_prod = key % n_products
    n_items = len(it_order)
    it_qty = np.searchsorted(np.array([0.82, 0.96, 1.0]), rng.random(n_items), side="right") + 1
    it_var, it_delta = _pick_variant(rng, cat, it_prod)
    it_unit = cat.price_cents[it_prod] + it_delta
    it_line = it_qty * it_unit
    subtotal = np.bincount(it_order, weights=it_line, minlength=n_orders).round().astype(np.int64)

    # promotion codes
    has_promo = rng.random(n_orders) < PROMO_RATE
    campaign_of_order = np.clip((o_time - start_ts) // (CAMPAIGN_DAYS * DAY), 0, n_campaigns - 1)
    which = rng.integers(0, 2, n_orders)
    code_idx = np.where(rng.random(n_orders) < 0.7, 2 + 2 * campaign_of_order + which, which)
    has_promo &= subtotal >= code_min_a[code_idx]
    is_pct = code_type_a[code_idx] == "percent"
    discount = np.where(
        is_pct,
        np.round(subtotal * code_value_a[code_idx] / 100.0).astype(np.int64),
        np.minimum(code_value_a[code_idx] * 100, subtotal),
    )
    discount = np.where(has_promo, discount, 0)
    total = subtotal - discount

    # payments
    failed = rng.random(n_orders) < np.where(total > 30_000, 0.06, 0.035)
    age = end_ts - o_time
    fulfil = rng.random(n_orders)
    status = np.where(
        failed,
        "payment_failed",
        np.where(
            age < 2 * DAY,
            "processing",
            np.where(age < 6 * DAY, "shipped", np.where(fulfil < 0.03, "returned", np.where(fulfil < 0.04, "cancelled", "delivered"))),
        ),
    )
    order_ids = np.arange(1, n_orders + 1, dtype=np.int64)
    timings["orders"] = time.perf_counter() - t0

    # ---- sessions and the interaction funnel -----------------------------------------------------
    t0 = time.perf_counter()
    rng = _Streams(cfg.seed, 5)
    step = 40
    # order sessions: e extra views, then per item view, optional click, add_to_cart; purchase
    e_views = rng.poisson(0.3, n_orders)
    it_click = rng.random(n_items) < 0.85
    it_steps = 2 + it_click.astype(np.int64)
    order_item_steps = np.bincount(it_order, weights=it_steps, minlength=n_orders).astype(np.int64)
    cs = np.cumsum(it_steps)
    order_excl = np.cumsum(order_item_steps) - order_item_steps
    it_first_step = cs - it_steps - order_excl[it_order] + e_views[it_order]
    total_steps = e_views + order_item_steps
    os_start = o_time - total_steps * step - rng.integers(30, 300, n_orders)
    os_end = o_time + rng.integers(30, 400, n_orders)

    # browse sessions
    n_browse = int(round(n_orders * BROWSE_SESSIONS_PER_ORDER))
    w_user = np.cumsum((0.3 + g) * np.maximum(active_days, 1e-3))
    b_user = _pick(rng, w_user, n_browse)
    b_start = clock.sample(rng, active_from[b_user].astype(np.float64), active_to[b_user].astype(np.float64))
    b_source_extra = np.zeros(n_browse, dtype=bool)
    if cfg.drift:
        # a separate stream keeps the pre-cut-over rows unchanged
        x_user, x_start = _drift_traffic(_Streams(cfg.seed, 50), clock, g, active_from, active_to, cut_ts,
                                         int(np.count_nonzero(b_start >= cut_ts)))
        b_user = np.concatenate([b_user, x_user])
        b_start = np.concatenate([b_start, x_start])
        b_source_extra = np.concatenate([b_source_extra, np.ones(len(x_user), dtype=bool)])
        n_browse += len(x_user)
    b_post = (b_start >= cut_ts) if cfg.drift else np.zeros(n_browse, dtype=bool)
    b_views = np.minimum(rng.geometric(0.4, n_browse), 12)
    v_sess = np.repeat(np.arange(n_browse), b_views)
    n_v = len(v_sess)
    v_prod = _pick(rng, cat.popularity_cum, n_v)
    v_click = rng.random(n_v) < 0.5
    v_cart = v_click & (rng.random(n_v) < 0.25)
    v_wish = v_click & (rng.random(n_v) < 0.12)
    v_steps = 1 + v_click + v_cart + v_wish
    v_cs = np.cumsum(v_steps)
    b_steps = np.bincount(v_sess, weights=v_steps, minlength=n_browse).astype(np.int64)
    v_first = v_cs - v_steps - (np.cumsum(b_steps) - b_steps)[v_sess]
    b_end = b_start + b_steps * 30 + rng.integers(10, 120, n_browse)

    # visits: sessions that leave from a landing, search or category page without touching a
    # product (most storefront sessions). Their own stream, appended last: every draw above and
    # below keeps its values for the order and browse sessions.
    visits = _visit_sessions(cfg, clock, n_orders, w_user, g, active_from, active_to, cut_ts)

    # all sessions, ordered by start time
    ob_extra = np.concatenate([np.zeros(n_orders, dtype=bool), b_source_extra])
    ob_chan, ob_src, ob_device = _session_attributes(
        rng, np.concatenate([o_channel, _draw_channel(rng, b_post)]), ob_extra
    )
    s_user = np.concatenate([o_user, b_user, visits.user])
    s_start = np.concatenate([os_start, b_start, visits.start])
    s_end = np.concatenate([os_end, b_end, visits.end])
    s_chan = np.concatenate([ob_chan, visits.channel])
    src_idx = np.concatenate([ob_src, visits.source])
    device = np.concatenate([ob_device, visits.device])
    s_order = np.argsort(s_start, kind="stable")
    s_rank = np.empty_like(s_order)
    s_rank[s_order] = np.arange(len(s_order))
    session_id_of = s_rank + 1  # index in concatenation -> session_id
    o_session = session_id_of[:n_orders]
    b_session = session_id_of[n_orders:n_orders + n_browse]
    sources = np.array(vocab.TRAFFIC_SOURCES + (vocab.DRIFT_TRAFFIC_SOURCE,))
    user_sessions = pl.DataFrame(
        {
            "session_id": np.arange(1, len(s_order) + 1, dtype=np.int64),
            "user_id": user_ids[s_user[s_order]],
            "started_at": _ts(s_start[s_order]),
            "ended_at": _ts(s_end[s_order]),
            "channel": np.array(CHANNELS)[s_chan[s_order]],
            "device": device[s_order],
            "traffic_source": sources[src_idx[s_order]],
        }
    )

    # interactions: (session index in concatenation, user index, product index, type, time)
    types = np.array(["view", "click", "add_to_cart", "wishlist", "purchase"])
    jitter = rng.integers(0, 20, n_items)
    it_view_t = os_start[it_order] + it_first_step * step + jitter
    it_click_t = it_view_t + step
    it_cart_t = it_view_t + step * (1 + it_click)
    paid = ~failed
    it_paid = paid[it_order]
    ev_order = np.repeat(np.arange(n_orders), e_views)
    ev_t = os_start[ev_order] + _within_group_index(e_views) * step + rng.integers(0, 20, len(ev_order))
    ev_prod = _pick(rng, cat.popularity_cum, len(ev_order))
    v_t = b_start[v_sess] + v_first * 30 + rng.integers(0, 15, n_v)
    parts = [
        (o_session[ev_order], o_user[ev_order], ev_prod, 0, ev_t),
        (o_session[it_order], o_user[it_order], it_prod, 0, it_view_t),
        (o_session[it_order[it_click]], o_user[it_order[it_click]], it_prod[it_click], 1, it_click_t[it_click]),
        (o_session[it_order], o_user[it_order], it_prod, 2, it_cart_t),
        (o_session[it_order[it_paid]], o_user[it_order[it_paid]], it_prod[it_paid], 4, o_time[it_order[it_paid]]),
        (b_session[v_sess], b_user[v_sess], v_prod, 0, v_t),
        (b_session[v_sess[v_click]], b_user[v_sess[v_click]], v_prod[v_click], 1, (v_t + 30)[v_click]),
        (b_session[v_sess[v_cart]], b_user[v_sess[v_cart]], v_prod[v_cart], 2, (v_t + 60)[v_cart]),
        (b_session[v_sess[v_wish]], b_user[v_sess[v_wish]], v_prod[v_wish], 3, (v_t + 60 + 30 * v_cart)[v_wish]),
    ]
    ia_sess = np.concatenate([p[0] for p in parts])
    ia_user = np.concatenate([p[1] for p in parts])
    ia_prod = np.concatenate([p[2] for p in parts])
    ia_type = np.concatenate([np.full(len(p[0]), p[3], dtype=np.int8) for p in parts])
    ia_time = np.concatenate([p[4] for p in parts]).astype(np.int64)
    ia_order = np.lexsort((ia_type, ia_time))
    user_interactions = pl.DataFrame(
        {
            "interaction_id": np.arange(1, len(ia_order) + 1, dtype=np.int64),
            "user_id": user_ids[ia_user[ia_order]],
            "session_id": ia_sess[ia_order].astype(np.int64),
            "product_id": (ia_prod[ia_order] + 1).astype(np.int64),
            "interaction_type": pl.Series(types[ia_type[ia_order]]),
            "occurred_at": _ts(ia_time[ia_order]),
        }
    )
    del ia_sess, ia_user, ia_prod, ia_type, ia_time, ia_order
    timings["sessions_interactions"] = time.perf_counter() - t0

    # ---- storefront tables -----------------------------------------------------------------------
    t0 = time.perf_counter()
    rng = _Streams(cfg.seed, 6)
    country_arr = np.array(country_codes)[country_idx]
    orders = pl.DataFrame(
        {
            "order_id": order_ids,
            "user_id": user_ids[o_user],
            "session_id": o_session.astype(np.int64),
            "ordered_at": _ts(o_time),
            "status": status,
            "channel": np.array(CHANNELS)[o_channel],
            "subtotal_amount": _money(subtotal),
            "discount_amount": _money(discount),
            "total_amount": _money(total),
            "promo_code": pl.Series(np.array(code_names)[code_idx]).set(pl.Series(~has_promo), None),
            "shipping_country": country_arr[o_user],
        }
    )
    order_items = pl.DataFrame(
        {
            "order_item_id": np.arange(1, n_items + 1, dtype=np.int64),
            "order_id": order_ids[it_order],
            "product_id": (it_prod + 1).astype(np.int64),
            "variant_id": _nullable_ids(it_var),
            "quantity": it_qty.astype(np.int32),
            "unit_price": _money(it_unit),
            "line_total": _money(it_line),
        }
    )
    pay_type = np.array(vocab.PAYMENT_TYPES)[_pick(rng, np.cumsum(vocab.PAYMENT_WEIGHTS), n_orders)]
    reasons = np.array(vocab.FAILURE_REASONS)[rng.integers(0, len(vocab.FAILURE_REASONS), n_orders)]
    transactions = pl.DataFrame(
        {
            "transaction_id": order_ids.copy(),
            "order_id": order_ids,
            "user_id": user_ids[o_user],
            "amount": _money(total),
            "payment_type": pay_type,
            "status": np.where(failed, "failed", "success"),
            "failure_reason": pl.Series(reasons).set(pl.Series(~failed), None),
            "processed_at": _ts(o_time + rng.integers(1, 30, n_orders)),
        }
    )

    # reviews: delivered or returned order lines, one per (user, product), after delivery
    reviewable = np.isin(status[it_order], ("delivered", "returned")) & (rng.random(n_items) < REVIEW_RATE)
    r_item = np.nonzero(reviewable)[0]
    r_time = o_time[it_order[r_item]] + rng.integers(4 * DAY, 25 * DAY, len(r_item))
    keep = r_time < end_ts
    r_item, r_time = r_item[keep], r_time[keep]
    r_key = o_user[it_order[r_item]].astype(np.int64) * n_products + it_prod[r_item]
    _, first_idx = np.unique(r_key, return_index=True)
    first_idx.sort()
    r_item, r_time = r_item[first_idx], r_time[first_idx]
    r_order = np.argsort(r_time, kind="stable")
    r_item, r_time = r_item[r_order], r_time[r_order]
    returned = status[it_order[r_item]] == "returned"
    score = 4.0 + cat.quality[it_prod[r_item]] + rng.normal(0, 1.0, len(r_item)) - 2.0 * returned
    rating = np.clip(np.round(score), 1, 5).astype(np.int16)
    reviews = _reviews_frame(rng, cat, r_item, r_time, rating, it_order, it_prod, o_user, order_ids, user_ids)
    timings["storefront"] = time.perf_counter() - t0

    # ---- carts and wishlists ---------------------------------------------------------------------
    t0 = time.perf_counter()
    rng = _Streams(cfg.seed, 7)
    # converted carts: one per order, items = the order lines, added at their add_to_cart time
    first_item = np.cumsum(np.bincount(it_order, minlength=n_orders)) - np.bincount(it_order, minlength=n_orders)
    conv_created = it_cart_t[first_item]
    # browse carts: one per browse session with an add_to_cart, items = those products
    c_sess_of_view = v_sess[v_cart]
    c_key = c_sess_of_view.astype(np.int64) * n_products + v_prod[v_cart]
    c_key, c_first = np.unique(c_key, return_index=True)
    bc_sess = c_key // n_products
    bc_prod = c_key % n_products
    bc_time = (v_t + 60)[v_cart][c_first]
    bc_sessions, bc_item_cart = np.unique(bc_sess, return_inverse=True)
    bc_created = np.full(len(bc_sessions), np.iinfo(np.int64).max)
    np.minimum.at(bc_created, bc_item_cart, bc_time)
    n_conv = n_orders
    n_bc = len(bc_sessions)
    cart_created = np.concatenate([conv_created, bc_created])
    cart_user = np.concatenate([o_user, b_user[bc_sessions]])
    cart_session = np.concatenate([o_session, b_session[bc_sessions]]).astype(np.int64)
    cart_status = np.concatenate(
        [np.full(n_conv, "converted"), np.where(bc_created >= end_ts - 3 * DAY, "active", "abandoned")]
    )
    cart_conv_order = np.concatenate([order_ids, np.zeros(n_bc, dtype=np.int64)])
    c_order = np.argsort(cart_created, kind="stable")
    c_rank = np.empty_like(c_order)
    c_rank[c_order] = np.arange(len(c_order))
    cart_id_of = c_rank + 1
    carts = pl.DataFrame(
        {
            "cart_id": np.arange(1, len(c_order) + 1, dtype=np.int64),
            "user_id": user_ids[cart_user[c_order]],
            "session_id": cart_session[c_order],
            "status": cart_status[c_order],
            "converted_order_id": pl.Series(cart_conv_order[c_order], dtype=pl.Int64).set(
                pl.Series(cart_conv_order[c_order] == 0), None
            ),
            "created_at": _ts(cart_created[c_order]),
        }
    )
    bc_var, bc_delta = _pick_variant(rng, cat, bc_prod)
    ci_cart = np.concatenate([cart_id_of[:n_conv][it_order], cart_id_of[n_conv:][bc_item_cart]])
    ci_prod = np.concatenate([it_prod, bc_prod])
    ci_var = np.concatenate([it_var, bc_var])
    ci_qty = np.concatenate([it_qty, np.ones(len(bc_prod), dtype=np.int64)])
    ci_unit = np.concatenate([it_unit, cat.price_cents[bc_prod] + bc_delta])
    ci_added = np.concatenate([it_cart_t, bc_time])
    ci_order = np.lexsort((ci_added, ci_cart))
    cart_items = pl.DataFrame(
        {
            "cart_item_id": np.arange(1, len(ci_order) + 1, dtype=np.int64),
            "cart_id": ci_cart[ci_order].astype(np.int64),
            "product_id": (ci_prod[ci_order] + 1).astype(np.int64),
            "variant_id": _nullable_ids(ci_var[ci_order]),
            "quantity": ci_qty[ci_order].astype(np.int32),
            "unit_price": _money(ci_unit[ci_order]),
            "added_at": _ts(ci_added[ci_order]),
        }
    )
    # read model of live carts
    live = carts.filter(pl.col("status") != "converted").select("cart_id", "status", "user_id")
    product_snap = cat.products.select(
        "product_id", "sku", "name", "brand", pl.col("category_id")
    ).join(cat.categories.select("category_id", pl.col("name").alias("category_name")), on="category_id", how="left")
    cart_view = (
        cart_items.join(live, on="cart_id", how="inner")
        .join(users.select("user_id", "email", "first_name", "last_name"), on="user_id", how="left")
        .join(product_snap, on="product_id", how="left")
        .sort("cart_item_id")
        .select(
            "cart_item_id",
            "cart_id",
            pl.col("status").alias("cart_status"),
            "user_id",
            pl.col("email").alias("user_email"),
            pl.col("first_name").alias("user_first_name"),
            pl.col("last_name").alias("user_last_name"),
            "product_id",
            pl.col("sku").alias("product_sku"),
            pl.col("name").alias("product_name"),
            pl.col("brand").alias("product_brand"),
            "category_name",
            "quantity",
            "unit_price",
            (pl.col("unit_price") * pl.col("quantity")).cast(pl.Decimal(12, 2)).alias("line_total"),
            "added_at",
        )
    )
    abandoned = carts.filter(pl.col("status") == "abandoned")
    saved_pick = abandoned.filter(pl.Series(rng.random(abandoned.height) < 0.15))
    totals = cart_items.group_by("cart_id").agg(
        pl.len().cast(pl.Int32).alias("item_count"),
        (pl.col("unit_price") * pl.col("quantity")).sum().cast(pl.Decimal(12, 2)).alias("total_value"),
    )
    saved_carts = (
        saved_pick.join(totals, on="cart_id", how="left")
        .sort("cart_id")
        .select(
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("saved_cart_id"),
            "user_id",
            "cart_id",
            pl.lit("Saved for later").alias("name"),
            "item_count",
            "total_value",
            (pl.col("created_at") + pl.duration(minutes=10)).alias("saved_at"),
        )
    )
    # wishlists from wishlist interactions
    w_user = b_user[v_sess[v_wish]]
    w_prod = v_prod[v_wish]
    w_time = (v_t + 60 + 30 * v_cart)[v_wish]
    w_key = w_user.astype(np.int64) * n_products + w_prod
    w_order = np.lexsort((w_time, w_key))
    w_key_sorted = w_key[w_order]
    first_of_key = np.concatenate([[True], w_key_sorted[1:] != w_key_sorted[:-1]]) if len(w_key_sorted) else np.zeros(0, bool)
    wi_key = w_key_sorted[first_of_key]
    wi_time = w_time[w_order][first_of_key]
    wi_user = wi_key // n_products
    wi_prod = wi_key % n_products
    wl_users, wi_wl = np.unique(wi_user, return_inverse=True)
    wl_created = np.full(len(wl_users), np.iinfo(np.int64).max)
    np.minimum.at(wl_created, wi_wl, wi_time)
    wishlists = pl.DataFrame(
        {
            "wishlist_id": np.arange(1, len(wl_users) + 1, dtype=np.int64),
            "user_id": user_ids[wl_users],
            "name": np.full(len(wl_users), "My wishlist"),
            "is_public": rng.random(len(wl_users)) < 0.2,
            "created_at": _ts(wl_created),
        }
    )
    wishlist_items = pl.DataFrame(
        {
            "wishlist_item_id": np.arange(1, len(wi_key) + 1, dtype=np.int64),
            "wishlist_id": (wi_wl + 1).astype(np.int64),
            "product_id": (wi_prod + 1).astype(np.int64),
            "added_at": _ts(wi_time),
        }
    )
    # validation log: a sample of cart item -> product and cart -> user checks
    sample_items = cart_items.filter(pl.Series(rng.random(cart_items.height) < 0.02))
    sample_carts = carts.filter(pl.Series(rng.random(carts.height) < 0.02))
    rvl = pl.concat(
        [
            sample_items.select(
                pl.lit("cart_item").alias("entity_type"),
                pl.col("cart_item_id").alias("entity_id"),
                pl.lit("product").alias("reference_type"),
                pl.col("product_id").alias("reference_id"),
                (pl.col("added_at") + pl.duration(seconds=1)).alias("validated_at"),
            ),
            sample_carts.select(
                pl.lit("cart").alias("entity_type"),
                pl.col("cart_id").alias("entity_id"),
                pl.lit("user").alias("reference_type"),
                pl.col("user_id").alias("reference_id"),
                (pl.col("created_at") + pl.duration(seconds=1)).alias("validated_at"),
            ),
        ]
    ).sort("validated_at", "entity_type", "entity_id")
    reference_validation_log = rvl.select(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("log_id"),
        "entity_type",
        "entity_id",
        "reference_type",
        "reference_id",
        pl.lit(True).alias("is_valid"),
        pl.lit(None, dtype=pl.String).alias("error_message"),
        "validated_at",
    )
    timings["carts"] = time.perf_counter() - t0

    # ---- promotion tables ------------------------------------------------------------------------
    t0 = time.perf_counter()
    rng = _Streams(cfg.seed, 8)
    code_ids = np.arange(1, n_codes + 1, dtype=np.int64)
    promo_codes = pl.DataFrame(
        {
            "promo_code_id": code_ids,
            "code": code_names,
            "description": [
                (f"{v}% off" if t == "percent" else f"${v} off") + (f" orders over ${m // 100}" if m else "")
                for t, v, m in zip(code_type, code_value, code_min, strict=True)
            ],
            "discount_type": code_type,
            "discount_value": _money(code_value_a * 100),
            "min_order_amount": _money(code_min_a),
            "max_uses": pl.Series([None] * n_codes, dtype=pl.Int32),
            "valid_from": _ts(np.array(code_from)),
            "valid_to": _ts(code_to_a),
            "is_active": code_to_a >= end_ts,
        }
    )
    campaign_ids = np.arange(1, n_campaigns + 1, dtype=np.int64)
    promotion_campaigns = pl.DataFrame(
        {
            "campaign_id": campaign_ids,
            "name": [f"{theme[c]} {c + 1:02d}" for c in range(n_campaigns)],
            "description": [f"{theme[c]}: two weeks of storewide codes" for c in range(n_campaigns)],
            "channel": np.array(["email", "social", "onsite", "push"])[rng.integers(0, 4, n_campaigns)],
            "status": np.where(camp_end <= end_ts - DAY, "ended", "active"),
            "budget": _money(rng.integers(50, 500, n_campaigns) * 10_000),
            "starts_at": _ts(camp_start),
            "ends_at": _ts(camp_end),
        }
    )
    campaign_promo_codes = pl.DataFrame(
        {
            "campaign_id": np.repeat(campaign_ids, 2),
            "promo_code_id": code_ids[2:],
        }
    )
    used = has_promo & ~failed
    u_idx = np.nonzero(used)[0]
    promo_usage = pl.DataFrame(
        {
            "usage_id": np.arange(1, len(u_idx) + 1, dtype=np.int64),
            "promo_code_id": code_ids[code_idx[u_idx]],
            "code": np.array(code_names)[code_idx[u_idx]],
            "order_id": order_ids[u_idx],
            "user_id": user_ids[o_user[u_idx]],
            "discount_amount": _money(discount[u_idx]),
            "used_at": _ts(o_time[u_idx]),
        }
    )
    # eligibility: users who used a code plus a random 5 % target group per code
    n_target = max(1, n_users // 20)
    el_code = np.concatenate([code_idx[u_idx], np.repeat(np.arange(n_codes), n_target)])
    el_user = np.concatenate([o_user[u_idx], rng.integers(0, n_users, n_codes * n_target)])
    el_reason_used = np.concatenate([np.ones(len(u_idx), bool), np.zeros(n_codes * n_target, bool)])
    el_key = el_user.astype(np.int64) * n_codes + el_code
    el_key, el_first = np.unique(el_key, return_index=True)
    el_user = el_key // n_codes
    el_code = el_key % n_codes
    user_promo_eligibility = pl.DataFrame(
        {
            "eligibility_id": np.arange(1, len(el_key) + 1, dtype=np.int64),
            "user_id": user_ids[el_user],
            "promo_code_id": code_ids[el_code],
            "reason": np.where(el_reason_used[el_first], "redeemed", np.where(el_code < 2, "new_customer", "campaign_target")),
            "eligible_from": _ts(np.array(code_from)[el_code]),
            "eligible_to": _ts(code_to_a[el_code]),
        }
    )
    promo_analytics = (
        promo_usage.join(orders.select("order_id", "total_amount"), on="order_id", how="left")
        .group_by("promo_code_id", pl.col("used_at").dt.date().alias("date"))
        .agg(
            pl.len().cast(pl.Int32).alias("uses"),
            pl.col("user_id").n_unique().cast(pl.Int32).alias("unique_users"),
            pl.col("discount_amount").sum().cast(pl.Decimal(12, 2)).alias("discount_total"),
            pl.col("total_amount").sum().cast(pl.Decimal(14, 2)).alias("revenue"),
        )
        .sort("promo_code_id", "date")
    )
    n_sugg = max(1, n_users // 10)
    sg_user = np.sort(rng.choice(n_users, n_sugg, replace=False))
    sg_code = np.where(rng.random(n_sugg) < 0.5, rng.integers(0, 2, n_sugg), n_codes - 2 + rng.integers(0, 2, n_sugg))
    used_pairs = set(zip(o_user[u_idx].tolist(), code_idx[u_idx].tolist(), strict=True))
    promo_suggestions = pl.DataFrame(
        {
            "suggestion_id": np.arange(1, n_sugg + 1, dtype=np.int64),
            "user_id": user_ids[sg_user],
            "promo_code_id": code_ids[sg_code],
            "score": np.round(rng.beta(2, 5, n_sugg), 4),
            "suggested_at": _ts(end_ts - rng.integers(DAY, 14 * DAY, n_sugg)),
            "accepted": np.array([(int(uu), int(cc)) in used_pairs for uu, cc in zip(sg_user, sg_code, strict=True)], dtype=bool),
        }
    )
    timings["promotions"] = time.perf_counter() - t0

    # ---- auth profiles ---------------------------------------------------------------------------
    rng = _Streams(cfg.seed, 9)
    hist_orders = np.bincount(o_user[~failed], minlength=n_users)
    spend = np.bincount(o_user[~failed], weights=total[~failed], minlength=n_users) / 100.0
    recent_signup = signup >= end_ts - 30 * DAY
    segment = np.where(
        recent_signup, "new",
        np.where(hist_orders >= 25, "vip", np.where(hist_orders >= 8, "regular", np.where(hist_orders >= 1, "occasional", "dormant"))),
    )
    tier = np.where(spend >= 5000, "gold", np.where(spend >= 1500, "silver", np.where(spend >= 300, "bronze", "none")))
    top_cat_ids = cat.categories.filter(pl.col("parent_category_id").is_null())["category_id"].to_numpy()
    pref_cat = top_cat_ids[rng.integers(0, len(top_cat_ids), n_users)]
    pref_channel = np.array(CHANNELS)[rng.integers(0, 3, n_users)]
    newsletter = rng.random(n_users) < 0.5
    user_profiles = pl.DataFrame(
        {
            "user_id": user_ids,
            "segment": segment,
            "marketing_opt_in": rng.random(n_users) < 0.6,
            "loyalty_tier": tier,
            "preferred_category_id": pref_cat.astype(np.int64),
            "pref_channel": pref_channel,
            "newsletter": newsletter,
        }
    ).select(
        "user_id",
        "segment",
        "marketing_opt_in",
        "loyalty_tier",
        "preferred_category_id",
        pl.concat_str(
            [pl.lit('{"preferred_channel": "'), pl.col("pref_channel"), pl.lit('", "newsletter": '),
             pl.when(pl.col("newsletter")).then(pl.lit("true")).otherwise(pl.lit("false")),
             pl.lit(', "currency": "USD"}')]
        ).alias("preferences"),
    )

    # ---- ground truth ----------------------------------------------------------------------------
    period_start, period_end = cfg.propensity_period
    customer_propensity = pl.DataFrame(
        {
            "user_id": user_ids,
            "true_propensity": true_propensity,
            "will_purchase": will_purchase,
            "period_start": pl.Series([period_start] * n_users, dtype=pl.Date),
            "period_end": pl.Series([period_end] * n_users, dtype=pl.Date),
            "is_churned": churned,
            "history_orders": n_orders_u.astype(np.int32),
        }
    )
    planted_bundles = _bundle_truth(bundles, cat, it_order, it_prod, n_orders, n_products)
    drift_spec = _drift_truth(cfg, orders, order_items, user_sessions, n_users)

    databases = {
        "auth_db": {"users": users, "user_sessions": user_sessions, "user_profiles": user_profiles},
        "product_db": {
            "categories": cat.categories,
            "products": cat.products,
            "product_variants": cat.variants,
            "product_images": cat.images,
            "product_inventory": cat.inventory,
        },
        "cart_db": {
            "carts": carts,
            "cart_items": cart_items,
            "wishlists": wishlists,
            "wishlist_items": wishlist_items,
            "saved_carts": saved_carts,
            "cart_view": cart_view,
            "reference_validation_log": reference_validation_log,
        },
        "promotion_db": {
            "promotion_campaigns": promotion_campaigns,
            "promo_codes": promo_codes,
            "campaign_promo_codes": campaign_promo_codes,
            "promo_usage": promo_usage,
            "user_promo_eligibility": user_promo_eligibility,
            "promo_analytics": promo_analytics,
            "promo_suggestions": promo_suggestions,
        },
        "storefront_db": {
            "orders": orders,
            "order_items": order_items,
            "transactions": transactions,
            "user_interactions": user_interactions,
            "reviews": reviews,
        },
    }
    ground_truth = {
        "planted_bundles": planted_bundles,
        "customer_propensity": customer_propensity,
        "drift_spec": drift_spec,
    }
    timings["total"] = time.perf_counter() - t_all
    generated_at = datetime.now(UTC)  # wall clock; not part of any frame
    return SimulatedData(cfg, databases, ground_truth, generated_at, timings)


def _drift_traffic(
    rng: Rng,
    clock: _Clock,
    g: np.ndarray,
    active_from: np.ndarray,
    active_to: np.ndarray,
    cut_ts: int,
    sessions_after_cutover: int,
) -> tuple[np.ndarray, np.ndarray]:
    """User index and start time of the sessions the drift's new traffic segment adds after the
    cut-over: ``DRIFT_EXTRA_SESSION_SHARE`` x the sessions already there, over customers still active."""
    n_extra = int(round(DRIFT_EXTRA_SESSION_SHARE * sessions_after_cutover))
    eligible = active_to > cut_ts + DAY
    user = _pick(rng, np.cumsum(np.where(eligible, 0.3 + g, 0.0)), n_extra)
    lo = np.maximum(active_from[user], cut_ts).astype(np.float64)
    return user, clock.sample(rng, lo, active_to[user].astype(np.float64))


def _session_attributes(rng: Rng, channel: np.ndarray, extra: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Channel, traffic-source index and device per session. Sessions of the drift's new traffic
    segment (``extra``) come from its own source and mostly on mobile."""
    channel = np.where(extra & (rng.random(len(channel)) < 0.8), 1, channel)
    source = _pick(rng, np.cumsum(vocab.TRAFFIC_WEIGHTS), len(channel))
    source = np.where(extra, len(vocab.TRAFFIC_SOURCES), source)
    u = rng.random(len(channel))
    device = np.where(
        channel == 1, "mobile", np.where(channel == 2, np.where(u < 0.85, "mobile", "tablet"),
                                         np.where(u < 0.85, "desktop", "tablet"))
    )
    return channel, source, device


@dataclass
class _Visits:
    """Sessions without a product interaction: user index, start/end (epoch s), channel index,
    traffic-source index and device per session."""

    user: np.ndarray
    start: np.ndarray
    end: np.ndarray
    channel: np.ndarray
    source: np.ndarray
    device: np.ndarray


def _visit_sessions(
    cfg: SimulationConfig,
    clock: _Clock,
    n_orders: int,
    browse_weights: np.ndarray,
    g: np.ndarray,
    active_from: np.ndarray,
    active_to: np.ndarray,
    cut_ts: int,
) -> _Visits:
    """``VISIT_SESSIONS_PER_ORDER`` visits per order, spread over customers like browse sessions
    (``browse_weights``: cumulative ``0.3 + g`` per active day, only while active). With drift on, the
    new traffic segment doubles the visits after the cut-over as it doubles the browse sessions."""
    rng = _Streams(cfg.seed, 51)
    n = int(round(n_orders * VISIT_SESSIONS_PER_ORDER))
    user = _pick(rng, browse_weights, n)
    start = clock.sample(rng, active_from[user].astype(np.float64), active_to[user].astype(np.float64))
    extra = np.zeros(n, dtype=bool)
    if cfg.drift:
        # a separate stream keeps the pre-cut-over rows unchanged
        x_user, x_start = _drift_traffic(_Streams(cfg.seed, 52), clock, g, active_from, active_to, cut_ts,
                                         int(np.count_nonzero(start >= cut_ts)))
        user = np.concatenate([user, x_user])
        start = np.concatenate([start, x_start])
        extra = np.concatenate([extra, np.ones(len(x_user), dtype=bool)])
    post = (start >= cut_ts) if cfg.drift else np.zeros(len(start), dtype=bool)
    end = start + rng.integers(5, 240, len(start))
    channel, source, device = _session_attributes(rng, _draw_channel(rng, post), extra)
    return _Visits(user, start, end, channel, source, device)


def _draw_channel(rng: Rng, post: np.ndarray) -> np.ndarray:
    """Channel index (0 web, 1 mobile, 2 app) per row; the mix moves to mobile where ``post``."""
    u = rng.random(len(post))
    web = np.where(post, CHANNEL_P_AFTER[0], CHANNEL_P_BEFORE[0])
    mobile = web + np.where(post, CHANNEL_P_AFTER[1], CHANNEL_P_BEFORE[1])
    return np.where(u < web, 0, np.where(u < mobile, 1, 2)).astype(np.int64)


def _plan_bundles(
    rng: Rng, cfg: SimulationConfig, cat: _Catalog, n_products: int
) -> list[tuple[list[int], float]]:
    """Disjoint product sets (pairs and triples) from mid-popularity products, with a per-order rate."""
    by_rank = np.argsort(cat.popularity_rank)  # product index by popularity rank
    lo, hi = min(20, n_products // 10), max(n_products // 2, 40)
    pool = by_rank[lo:hi].copy()
    rng.shuffle(pool)
    out: list[tuple[list[int], float]] = []
    pos = 0
    for b in range(cfg.n_bundles):
        size = 2 if b % 3 != 2 else 3
        if pos + size > len(pool):
            break
        members = sorted(int(p) for p in pool[pos:pos + size])
        pos += size
        out.append((members, float(np.round(rng.uniform(0.006, 0.02), 4))))
    return out


def _bundle_truth(
    bundles: list[tuple[list[int], float]],
    cat: _Catalog,
    it_order: np.ndarray,
    it_prod: np.ndarray,
    n_orders: int,
    n_products: int,
) -> pl.DataFrame:
    rows: dict[str, list[Any]] = {k: [] for k in (
        "bundle_id", "product_ids", "product_names", "size", "probability", "observed_orders",
        "observed_support", "observed_lift")}
    for i, (members, prob) in enumerate(bundles):
        contains = []
        for p in members:
            mask = np.zeros(n_orders, dtype=bool)
            mask[it_order[it_prod == p]] = True
            contains.append(mask)
        together = np.logical_and.reduce(contains)
        support = together.sum() / n_orders
        singles = np.prod([c.sum() / n_orders for c in contains])
        rows["bundle_id"].append(i + 1)
        rows["product_ids"].append([p + 1 for p in members])
        rows["product_names"].append([str(cat.names[p]) for p in members])
        rows["size"].append(len(members))
        rows["probability"].append(prob)
        rows["observed_orders"].append(int(together.sum()))
        rows["observed_support"].append(float(support))
        rows["observed_lift"].append(float(support / singles) if singles > 0 else 0.0)
    return pl.DataFrame(
        rows,
        schema={
            "bundle_id": pl.Int32,
            "product_ids": pl.List(pl.Int64),
            "product_names": pl.List(pl.String),
            "size": pl.Int32,
            "probability": pl.Float64,
            "observed_orders": pl.Int32,
            "observed_support": pl.Float64,
            "observed_lift": pl.Float64,
        },
    )


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


def _drift_truth(
    cfg: SimulationConfig, orders: pl.DataFrame, order_items: pl.DataFrame, user_sessions: pl.DataFrame, n_users: int
) -> pl.DataFrame:
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
    start = datetime.fromtimestamp(_epoch(cfg.start_date), tz=UTC)
    cut = datetime.fromtimestamp(_epoch(cfg.cutover), tz=UTC)
    end = datetime.fromtimestamp(_epoch(cfg.end_date) + DAY, tz=UTC)
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


def _reviews_frame(
    rng: Rng,
    cat: _Catalog,
    r_item: np.ndarray,
    r_time: np.ndarray,
    rating: np.ndarray,
    it_order: np.ndarray,
    it_prod: np.ndarray,
    o_user: np.ndarray,
    order_ids: np.ndarray,
    user_ids: np.ndarray,
) -> pl.DataFrame:
    n = len(r_item)
    sentiment = np.where(rating <= 2, "negative", np.where(rating == 3, "neutral", "positive"))
    titles = np.empty(n, dtype=object)
    bodies = np.empty(n, dtype=object)
    prod = it_prod[r_item]
    pick = rng.integers(0, 1_000_000, (n, 3))
    for cls in ("negative", "neutral", "positive"):
        idx = np.nonzero(sentiment == cls)[0]
        t_bank = np.array(vocab.REVIEW_TITLES[cls], dtype=object)
        o_bank = vocab.REVIEW_OPENINGS[cls]
        c_bank = np.array(vocab.REVIEW_CLOSINGS[cls], dtype=object)
        titles[idx] = t_bank[pick[idx, 0] % len(t_bank)]
        opening = [o_bank[k % len(o_bank)].format(noun=noun) for k, noun in zip(pick[idx, 1], cat.nouns[prod[idx]], strict=True)]
        bodies[idx] = np.char.add(np.char.add(np.array(opening, dtype=str), " "), c_bank[pick[idx, 2] % len(c_bank)].astype(str)) if len(idx) else []
    return pl.DataFrame(
        {
            "review_id": np.arange(1, n + 1, dtype=np.int64),
            "user_id": user_ids[o_user[it_order[r_item]]],
            "product_id": (prod + 1).astype(np.int64),
            "order_id": order_ids[it_order[r_item]],
            "rating": rating.astype(np.int16),
            "title": pl.Series(titles.astype(str) if n else [], dtype=pl.String),
            "body": pl.Series(bodies.astype(str) if n else [], dtype=pl.String),
            "is_verified_purchase": np.ones(n, dtype=bool),
            "created_at": _ts(r_time),
        }
    )
