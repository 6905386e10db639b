"""Customers (random stream ``STREAM_CUSTOMERS``): the users table, each customer's latent
purchase rate and lifetime, and the planted purchase propensity after the history."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from storeml_assets.synthetic import vocab
from storeml_assets.synthetic.scales import ScalePreset
from storeml_assets.synthetic.simulator.common import STREAM_CUSTOMERS, History, pick, ts
from storeml_assets.synthetic.simulator.config import (
    CHURN_HAZARD_PER_DAY,
    DAY,
    DORMANT_RATE_FACTOR,
    PROPENSITY_HORIZON_DAYS,
)


@dataclass
class Customers:
    """The users table and, by user index, what drives their behaviour."""

    users: pl.DataFrame
    user_ids: np.ndarray
    g: np.ndarray  # latent activity multiplier (gamma, mean 1)
    signup: np.ndarray  # epoch seconds
    active_from: np.ndarray
    active_to: np.ndarray
    active_days: np.ndarray
    churned: np.ndarray
    n_orders: np.ndarray  # orders in the history
    true_propensity: np.ndarray
    will_purchase: np.ndarray
    country: np.ndarray  # country code

    @property
    def n(self) -> int:
        return len(self.user_ids)


def build_customers(history: History, preset: ScalePreset) -> Customers:
    """``preset.n_users`` customers whose order counts add up to about ``preset.n_orders``."""
    rng = history.stream(STREAM_CUSTOMERS)
    start_ts, end_ts, clock = history.start_ts, history.end_ts, history.clock
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
    true_propensity, future_days = future_purchase(base_rate * g, churned, (churn_at - end_ts) / DAY)
    will_purchase = rng.random(n_users) < -np.expm1(-base_rate * g * future_days)

    country_codes = list(vocab.COUNTRIES)
    country_cum = np.cumsum([vocab.COUNTRIES[c][0] for c in country_codes])
    country_idx = pick(rng, country_cum, n_users)
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
            "signup_at": ts(signup),
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
    return Customers(
        users=users,
        user_ids=user_ids,
        g=g,
        signup=signup,
        active_from=active_from,
        active_to=active_to,
        active_days=active_days,
        churned=churned,
        n_orders=n_orders_u,
        true_propensity=true_propensity,
        will_purchase=will_purchase,
        country=np.array(country_codes)[country_idx],
    )


def future_purchase(
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


def propensity_truth(history: History, customers: Customers) -> pl.DataFrame:
    """``ground_truth.customer_propensity``: each customer's planted propensity and outcome."""
    period_start, period_end = history.cfg.propensity_period
    n_users = customers.n
    return pl.DataFrame(
        {
            "user_id": customers.user_ids,
            "true_propensity": customers.true_propensity,
            "will_purchase": customers.will_purchase,
            "period_start": pl.Series([period_start] * n_users, dtype=pl.Date),
            "period_end": pl.Series([period_end] * n_users, dtype=pl.Date),
            "is_churned": customers.churned,
            "history_orders": customers.n_orders.astype(np.int32),
        }
    )
