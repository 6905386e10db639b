"""The simulator's planted bundles are found by the miner at `small` scale (lift >= 2)."""

from __future__ import annotations

import polars as pl
import pytest

from storeml_assets.bundles.assets import BundleRulesConfig
from storeml_assets.bundles.rules import mine_rules
from storeml_assets.synthetic.simulator import SimulationConfig, simulate


@pytest.mark.slow
def test_planted_bundles_appear_as_rules_with_lift_at_least_2() -> None:
    data = simulate(SimulationConfig(scale="small", seed=7))
    paid = data.table("transactions").filter(pl.col("status") == "success").select("order_id")
    baskets = (
        data.table("order_items")
        .join(paid, on="order_id")
        .select(pl.col("order_id").alias("basket_id"), pl.col("product_id").alias("item"))
        .unique()
    )
    defaults = BundleRulesConfig()
    rules = mine_rules(
        baskets, min_support=defaults.min_support, min_confidence=defaults.min_confidence, max_len=defaults.max_len
    )
    strong = rules[rules["lift"] >= 2]
    found_itemsets = {frozenset(a) | frozenset(c) for a, c in zip(strong["antecedents"], strong["consequents"], strict=True)}
    planted = [frozenset(ids) for ids in data.ground_truth["planted_bundles"]["product_ids"].to_list()]
    assert planted, "the simulator planted no bundles"
    found = [bundle for bundle in planted if bundle in found_itemsets]
    assert len(found) / len(planted) >= 0.95, (len(found), len(planted))
