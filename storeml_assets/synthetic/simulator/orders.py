"""Orders (random stream ``STREAM_ORDERS``): when each customer orders, on which channel, the
basket (with the planted bundles), the promo code redeemed, the payment and the fulfilment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from storeml_assets.synthetic.simulator.catalogue import Catalog, pick_variant
from storeml_assets.synthetic.simulator.common import STREAM_ORDERS, History, Rng, draw_channel
from storeml_assets.synthetic.simulator.config import (
    BASKET_EXTRA_MEAN_AFTER,
    BASKET_EXTRA_MEAN_BEFORE,
    CAMPAIGN_DAYS,
    DAY,
    PROMO_RATE,
    SimulationConfig,
)
from storeml_assets.synthetic.simulator.customers import Customers

if TYPE_CHECKING:
    from storeml_assets.synthetic.simulator.promotions import PromoPlan
    from storeml_assets.synthetic.simulator.taste import Taste

#: a planted bundle: product indices and the per-order probability of buying them together
Bundle = tuple[list[int], float]


@dataclass
class Orders:
    """Orders by order index (sorted by time), and their lines by item index."""

    user: np.ndarray  # user index
    time: np.ndarray  # epoch seconds
    channel: np.ndarray  # channel index
    order_ids: np.ndarray
    subtotal: np.ndarray  # cents
    has_promo: np.ndarray
    code_idx: np.ndarray  # promo code index (meaningful where has_promo)
    discount: np.ndarray  # cents
    total: np.ndarray  # cents
    failed: np.ndarray  # payment failed
    status: np.ndarray
    bundles: list[Bundle]
    it_order: np.ndarray  # order index per line
    it_prod: np.ndarray  # product index per line
    it_qty: np.ndarray
    it_var: np.ndarray  # variant index per line, -1 for none
    it_unit: np.ndarray  # unit price, cents
    it_line: np.ndarray  # line total, cents

    @property
    def n(self) -> int:
        return len(self.time)

    @property
    def n_items(self) -> int:
        return len(self.it_order)


def build_orders(history: History, cat: Catalog, customers: Customers, plan: PromoPlan, taste: Taste) -> Orders:
    """Each customer's orders, spread over their active days following the seasonal clock; the
    products of each line follow the customer's ``taste``."""
    rng = history.stream(STREAM_ORDERS)
    cfg = history.cfg
    n_users = customers.n
    o_user = np.repeat(np.arange(n_users), customers.n_orders)
    o_time = history.clock.sample(rng, customers.active_from[o_user].astype(np.float64),
                                  customers.active_to[o_user].astype(np.float64))
    perm = np.argsort(o_time, kind="stable")
    o_user = o_user[perm]
    o_time = o_time[perm]
    n_orders = len(o_time)
    o_post = (o_time >= history.cut_ts) if cfg.drift else np.zeros(n_orders, dtype=bool)
    o_channel = draw_channel(rng, o_post)
    bundles, it_order, it_prod = _baskets(rng, cfg, cat, o_post, o_user, taste)
    n_items = len(it_order)
    it_qty = np.searchsorted(np.array([0.82, 0.96, 1.0]), rng.random(n_items), side="right") + 1
    it_var, it_delta = pick_variant(rng, cat, it_prod)
    it_unit = cat.price_cents[it_prod] + it_delta
    it_line = it_qty * it_unit
    subtotal = np.bincount(it_order, weights=it_line, minlength=n_orders).round().astype(np.int64)

    # promotion codes
    has_promo = rng.random(n_orders) < PROMO_RATE
    campaign_of_order = np.clip((o_time - history.start_ts) // (CAMPAIGN_DAYS * DAY), 0, plan.n_campaigns - 1)
    which = rng.integers(0, 2, n_orders)
    code_idx = np.where(rng.random(n_orders) < 0.7, 2 + 2 * campaign_of_order + which, which)
    code_value_a = np.array(plan.value, dtype=np.int64)
    has_promo &= subtotal >= np.array(plan.min_cents, dtype=np.int64)[code_idx]
    discount = np.where(
        plan.is_percent[code_idx],
        np.round(subtotal * code_value_a[code_idx] / 100.0).astype(np.int64),
        np.minimum(code_value_a[code_idx] * 100, subtotal),
    )
    discount = np.where(has_promo, discount, 0)
    total = subtotal - discount

    # payments
    failed = rng.random(n_orders) < np.where(total > 30_000, 0.06, 0.035)
    age = history.end_ts - o_time
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
    return Orders(
        user=o_user, time=o_time, channel=o_channel, order_ids=np.arange(1, n_orders + 1, dtype=np.int64),
        subtotal=subtotal, has_promo=has_promo, code_idx=code_idx, discount=discount, total=total,
        failed=failed, status=status, bundles=bundles, it_order=it_order, it_prod=it_prod, it_qty=it_qty,
        it_var=it_var, it_unit=it_unit, it_line=it_line,
    )


def _baskets(
    rng: Rng, cfg: SimulationConfig, cat: Catalog, o_post: np.ndarray, o_user: np.ndarray, taste: Taste
) -> tuple[list[Bundle], np.ndarray, np.ndarray]:
    """The planted bundles, and the (order index, product index) of every distinct order line,
    sorted by order then product. A line's product follows its customer's taste (one uniform draw
    per line); baskets grow and shift to pricier products where ``o_post``."""
    n_orders = len(o_post)
    n_products = len(cat.price_cents)
    # both draws always happen so that the rows before the cut-over do not depend on ``drift``
    k_before = rng.poisson(BASKET_EXTRA_MEAN_BEFORE, n_orders)
    k_after = rng.poisson(BASKET_EXTRA_MEAN_AFTER, n_orders)
    k = 1 + np.where(o_post, k_after, k_before)
    k = np.minimum(k, 8)
    it_order = np.repeat(np.arange(n_orders), k)
    it_post = o_post[it_order]
    it_prod = taste.choose(rng.random(len(it_order)), o_user[it_order], it_post)
    bundles = plan_bundles(rng, cfg, cat, n_products)
    extra_orders = [it_order]
    extra_prods = [it_prod]
    for members, prob in bundles:
        hit = np.nonzero(rng.random(n_orders) < prob)[0]
        extra_orders.append(np.repeat(hit, len(members)))
        extra_prods.append(np.tile(np.array(members, dtype=np.int64), len(hit)))
    key = np.concatenate(extra_orders).astype(np.int64) * n_products + np.concatenate(extra_prods)
    key = np.unique(key)
    return bundles, key // n_products, key % n_products


def plan_bundles(rng: Rng, cfg: SimulationConfig, cat: Catalog, n_products: int) -> list[Bundle]:
    """Disjoint product sets (pairs and triples) from mid-popularity products, with a per-order rate."""
    by_rank = np.argsort(cat.popularity_rank)  # product index by popularity rank
    lo, hi = min(20, n_products // 10), max(n_products // 2, 40)
    pool = by_rank[lo:hi].copy()
    rng.shuffle(pool)
    out: list[Bundle] = []
    pos = 0
    for b in range(cfg.n_bundles):
        size = 2 if b % 3 != 2 else 3
        if pos + size > len(pool):
            break
        members = sorted(int(p) for p in pool[pos:pos + size])
        pos += size
        out.append((members, float(np.round(rng.uniform(0.006, 0.02), 4))))
    return out


def bundle_truth(orders: Orders, cat: Catalog) -> pl.DataFrame:
    """``ground_truth.planted_bundles``: each planted bundle with its observed support and lift."""
    it_order, it_prod, n_orders = orders.it_order, orders.it_prod, orders.n
    rows: dict[str, list[Any]] = {k: [] for k in (
        "bundle_id", "product_ids", "product_names", "size", "probability", "observed_orders",
        "observed_support", "observed_lift")}
    for i, (members, prob) in enumerate(orders.bundles):
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
