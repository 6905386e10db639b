"""Promotions: the campaigns and their codes (random stream ``STREAM_PROMO_CODES``), planned
before the orders that redeem them, and the promotion service's tables (random stream
``STREAM_PROMOTIONS``), drawn once the orders are known."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from storeml_assets.synthetic import vocab
from storeml_assets.synthetic.simulator.common import (
    STREAM_PROMO_CODES,
    STREAM_PROMOTIONS,
    History,
    Rng,
    money,
    ts,
)
from storeml_assets.synthetic.simulator.config import CAMPAIGN_DAYS, DAY
from storeml_assets.synthetic.simulator.customers import Customers
from storeml_assets.synthetic.simulator.orders import Orders


@dataclass
class PromoPlan:
    """Two-week campaigns, and the promo codes by code index: two standing codes
    (``WELCOME10``, ``SAVE5``), then two codes per campaign."""

    n_campaigns: int
    camp_start: np.ndarray
    camp_end: np.ndarray
    theme: list[str]
    names: list[str]
    type: list[str]  # "percent" or "fixed"
    value: list[int]  # percent or dollars
    min_cents: list[int]
    valid_from: list[int]
    valid_to: list[int]

    @property
    def n_codes(self) -> int:
        return len(self.names)

    @property
    def is_percent(self) -> np.ndarray:
        return np.array(self.type) == "percent"


def plan_codes(history: History) -> PromoPlan:
    """One campaign every ``CAMPAIGN_DAYS`` days of the history, each with a percent and a fixed code."""
    rng = history.stream(STREAM_PROMO_CODES)
    cfg, start_ts, end_ts = history.cfg, history.start_ts, history.end_ts
    n_campaigns = math.ceil(cfg.days / CAMPAIGN_DAYS)
    camp_start = start_ts + np.arange(n_campaigns) * CAMPAIGN_DAYS * DAY
    camp_end = np.minimum(camp_start + CAMPAIGN_DAYS * DAY, end_ts)
    pct_choices = np.array([10, 15, 20, 25])
    fixed_choices = np.array([5, 10, 15, 20])
    # code 0: WELCOME10 (10 %), code 1: SAVE5 (5 off 50); then two codes per campaign
    plan = PromoPlan(
        n_campaigns=n_campaigns,
        camp_start=camp_start,
        camp_end=camp_end,
        theme=[vocab.CAMPAIGN_THEMES[c % len(vocab.CAMPAIGN_THEMES)] for c in range(n_campaigns)],
        names=["WELCOME10", "SAVE5"],
        type=["percent", "fixed"],
        value=[10, 5],
        min_cents=[0, 5000],
        valid_from=[start_ts - 365 * DAY, start_ts - 365 * DAY],
        valid_to=[end_ts + 365 * DAY, end_ts + 365 * DAY],
    )
    for c in range(n_campaigns):
        pct = int(pct_choices[rng.integers(0, 4)])
        fixed = int(fixed_choices[rng.integers(0, 4)])
        tag = "".join(w[0] for w in plan.theme[c].split()).upper()
        plan.names += [f"{tag}{c + 1:02d}PCT{pct}", f"{tag}{c + 1:02d}OFF{fixed}"]
        plan.type += ["percent", "fixed"]
        plan.value += [pct, fixed]
        plan.min_cents += [0, fixed * 500]
        plan.valid_from += [int(camp_start[c])] * 2
        plan.valid_to += [int(camp_end[c])] * 2
    return plan


def promotion_tables(
    history: History, plan: PromoPlan, customers: Customers, orders: Orders, orders_frame: pl.DataFrame
) -> dict[str, pl.DataFrame]:
    """Every ``promotion_db`` table, in the order they load."""
    rng = history.stream(STREAM_PROMOTIONS)
    end_ts = history.end_ts
    n_codes = plan.n_codes
    code_ids = np.arange(1, n_codes + 1, dtype=np.int64)
    code_value_a = np.array(plan.value, dtype=np.int64)
    code_min_a = np.array(plan.min_cents, dtype=np.int64)
    code_to_a = np.array(plan.valid_to, dtype=np.int64)
    promo_codes = pl.DataFrame(
        {
            "promo_code_id": code_ids,
            "code": plan.names,
            "description": [
                (f"{v}% off" if t == "percent" else f"${v} off") + (f" orders over ${m // 100}" if m else "")
                for t, v, m in zip(plan.type, plan.value, plan.min_cents, strict=True)
            ],
            "discount_type": plan.type,
            "discount_value": money(code_value_a * 100),
            "min_order_amount": money(code_min_a),
            "max_uses": pl.Series([None] * n_codes, dtype=pl.Int32),
            "valid_from": ts(np.array(plan.valid_from)),
            "valid_to": ts(code_to_a),
            "is_active": code_to_a >= end_ts,
        }
    )
    n_campaigns, theme = plan.n_campaigns, plan.theme
    campaign_ids = np.arange(1, n_campaigns + 1, dtype=np.int64)
    promotion_campaigns = pl.DataFrame(
        {
            "campaign_id": campaign_ids,
            "name": [f"{theme[c]} {c + 1:02d}" for c in range(n_campaigns)],
            "description": [f"{theme[c]}: two weeks of storewide codes" for c in range(n_campaigns)],
            "channel": np.array(["email", "social", "onsite", "push"])[rng.integers(0, 4, n_campaigns)],
            "status": np.where(plan.camp_end <= end_ts - DAY, "ended", "active"),
            "budget": money(rng.integers(50, 500, n_campaigns) * 10_000),
            "starts_at": ts(plan.camp_start),
            "ends_at": ts(plan.camp_end),
        }
    )
    campaign_promo_codes = pl.DataFrame(
        {
            "campaign_id": np.repeat(campaign_ids, 2),
            "promo_code_id": code_ids[2:],
        }
    )
    u_idx = np.nonzero(orders.has_promo & ~orders.failed)[0]
    promo_usage = pl.DataFrame(
        {
            "usage_id": np.arange(1, len(u_idx) + 1, dtype=np.int64),
            "promo_code_id": code_ids[orders.code_idx[u_idx]],
            "code": np.array(plan.names)[orders.code_idx[u_idx]],
            "order_id": orders.order_ids[u_idx],
            "user_id": customers.user_ids[orders.user[u_idx]],
            "discount_amount": money(orders.discount[u_idx]),
            "used_at": ts(orders.time[u_idx]),
        }
    )
    promo_analytics = (
        promo_usage.join(orders_frame.select("order_id", "total_amount"), on="order_id", how="left")
        .group_by("promo_code_id", pl.col("used_at").dt.date().alias("date"))
        .agg(
            pl.len().cast(pl.Int32).alias("uses"),
            pl.col("user_id").n_unique().cast(pl.Int32).alias("unique_users"),
            pl.col("discount_amount").sum().cast(pl.Decimal(12, 2)).alias("discount_total"),
            pl.col("total_amount").sum().cast(pl.Decimal(14, 2)).alias("revenue"),
        )
        .sort("promo_code_id", "date")
    )
    return {
        "promotion_campaigns": promotion_campaigns,
        "promo_codes": promo_codes,
        "campaign_promo_codes": campaign_promo_codes,
        "promo_usage": promo_usage,
        "user_promo_eligibility": _eligibility(rng, plan, customers, orders, u_idx),
        "promo_analytics": promo_analytics,
        "promo_suggestions": _suggestions(rng, history, plan, customers, orders, u_idx),
    }


def _eligibility(rng: Rng, plan: PromoPlan, customers: Customers, orders: Orders, u_idx: np.ndarray) -> pl.DataFrame:
    """Users who used a code plus a random 5 % target group per code."""
    n_users, n_codes = customers.n, plan.n_codes
    n_target = max(1, n_users // 20)
    el_code = np.concatenate([orders.code_idx[u_idx], np.repeat(np.arange(n_codes), n_target)])
    el_user = np.concatenate([orders.user[u_idx], rng.integers(0, n_users, n_codes * n_target)])
    el_reason_used = np.concatenate([np.ones(len(u_idx), bool), np.zeros(n_codes * n_target, bool)])
    el_key = el_user.astype(np.int64) * n_codes + el_code
    el_key, el_first = np.unique(el_key, return_index=True)
    el_user = el_key // n_codes
    el_code = el_key % n_codes
    code_ids = np.arange(1, n_codes + 1, dtype=np.int64)
    return pl.DataFrame(
        {
            "eligibility_id": np.arange(1, len(el_key) + 1, dtype=np.int64),
            "user_id": customers.user_ids[el_user],
            "promo_code_id": code_ids[el_code],
            "reason": np.where(el_reason_used[el_first], "redeemed", np.where(el_code < 2, "new_customer", "campaign_target")),
            "eligible_from": ts(np.array(plan.valid_from)[el_code]),
            "eligible_to": ts(np.array(plan.valid_to, dtype=np.int64)[el_code]),
        }
    )


def _suggestions(
    rng: Rng, history: History, plan: PromoPlan, customers: Customers, orders: Orders, u_idx: np.ndarray
) -> pl.DataFrame:
    """Codes suggested to a tenth of the users (a standing code or one of the last campaign's)."""
    n_users, n_codes = customers.n, plan.n_codes
    n_sugg = max(1, n_users // 10)
    sg_user = np.sort(rng.choice(n_users, n_sugg, replace=False))
    sg_code = np.where(rng.random(n_sugg) < 0.5, rng.integers(0, 2, n_sugg), n_codes - 2 + rng.integers(0, 2, n_sugg))
    used_pairs = set(zip(orders.user[u_idx].tolist(), orders.code_idx[u_idx].tolist(), strict=True))
    return pl.DataFrame(
        {
            "suggestion_id": np.arange(1, n_sugg + 1, dtype=np.int64),
            "user_id": customers.user_ids[sg_user],
            "promo_code_id": np.arange(1, n_codes + 1, dtype=np.int64)[sg_code],
            "score": np.round(rng.beta(2, 5, n_sugg), 4),
            "suggested_at": ts(history.end_ts - rng.integers(DAY, 14 * DAY, n_sugg)),
            "accepted": np.array([(int(uu), int(cc)) in used_pairs for uu, cc in zip(sg_user, sg_code, strict=True)], dtype=bool),
        }
    )
