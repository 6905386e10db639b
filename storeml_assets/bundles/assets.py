"""The `bundles` group: association rules over recent baskets, for product-bundle offers."""

import time
from datetime import timedelta

import dagster as dg
import pandas as pd
import polars as pl
from pydantic import Field

from storeml_assets import markdown
from storeml_assets.bundles.rules import mine_rules
from storeml_assets.keys import BUNDLE_RULES_KEY, BUNDLES_GROUP

METRIC_RENAMES = {"antecedent support": "antecedent_support", "consequent support": "consequent_support"}


class BundleRulesConfig(dg.Config):
    """Thresholds of the association-rule miner."""

    window_days: int = Field(default=180, description="Baskets of the last N days (ending at the latest sale).")
    min_support: float = Field(default=0.001, description="Minimum share of baskets containing an itemset, in (0, 1].")
    min_confidence: float = Field(default=0.05, description="Minimum rule confidence, in (0, 1].")
    max_len: int = Field(default=3, description="Largest itemset size considered.")
    single_consequent: bool = Field(default=False, description="Keep only rules with one consequent item.")


def baskets_in_window(sales: pl.DataFrame, window_days: int) -> pl.DataFrame:
    """(basket_id, item) pairs of the sales within ``window_days`` of the latest sale."""
    if sales.height == 0:
        return pl.DataFrame({"basket_id": [], "item": []}, schema={"basket_id": pl.Int64, "item": pl.String})
    time_col = "transaction_ts" if "transaction_ts" in sales.columns else None
    frame = sales
    if time_col is not None:
        latest = frame[time_col].max()
        assert latest is not None
        frame = frame.filter(pl.col(time_col) > latest - timedelta(days=window_days))  # type: ignore[operator]
    return frame.select(
        pl.col("transaction_id").alias("basket_id"), pl.col("product_sku").cast(pl.String).alias("item")
    ).unique()


def rules_table(rules: pd.DataFrame) -> pd.DataFrame:
    """Rules in the shape of ``warehouse.bundle_rules`` (arrays of SKUs and of names, metrics)."""
    out = rules.rename(columns=METRIC_RENAMES).copy()
    for column in ("antecedents", "consequents", "antecedent_names", "consequent_names"):
        if column in out:
            out[column] = [list(map(str, value)) for value in out[column]]
    out.insert(0, "id", range(1, len(out) + 1))
    return out.reset_index(drop=True)


def top_rules_markdown(table: pd.DataFrame, n: int = 10) -> str:
    if table.empty:
        return "_no rules at these thresholds_"
    top = table.nlargest(n, "lift")
    rows = [
        (
            " + ".join(getattr(row, "antecedent_names", row.antecedents)),
            " + ".join(getattr(row, "consequent_names", row.consequents)),
            f"{row.support:.4f}",
            f"{row.confidence:.3f}",
            f"{row.lift:.2f}",
        )
        for row in top.itertuples(index=False)
    ]
    return markdown.table(rows, ["antecedents", "consequents", "support", "confidence", "lift"])


@dg.asset(
    key=BUNDLE_RULES_KEY,
    group_name=BUNDLES_GROUP,
    ins={
        "sales": dg.AssetIn(
            key=["warehouse", "sales"], metadata={"columns": ["transaction_id", "product_sku", "transaction_ts"]}
        ),
        "products": dg.AssetIn(key=["warehouse", "products"], metadata={"columns": ["product_sku", "product_name"]}),
    },
    kinds={"postgres", "python"},
    owners=["team:ml"],
    code_version="1",
)
def bundle_rules(
    context: dg.AssetExecutionContext, config: BundleRulesConfig, sales: pl.DataFrame, products: pl.DataFrame
) -> pd.DataFrame:
    """Products bought together far above chance: candidates for bundle offers."""
    baskets = baskets_in_window(sales, config.window_days)
    names = dict(zip(products["product_sku"].cast(pl.String).to_list(), products["product_name"].to_list(), strict=True))
    started = time.perf_counter()
    rules = mine_rules(
        baskets,
        min_support=config.min_support,
        min_confidence=config.min_confidence,
        max_len=config.max_len,
        single_consequent=config.single_consequent,
        item_names=names,
    )
    seconds = time.perf_counter() - started
    table = rules_table(rules)
    n_baskets = baskets["basket_id"].n_unique() if baskets.height else 0
    context.log.info(f"mined {len(table):,} rules from {n_baskets:,} baskets in {seconds:.2f}s")
    context.add_output_metadata(
        {
            "rule_count": len(table),
            "baskets": n_baskets,
            "mine_seconds": round(seconds, 3),
            "max_lift": float(table["lift"].max()) if len(table) else 0.0,
            "top_rules_by_lift": dg.MetadataValue.md(top_rules_markdown(table)),
        }
    )
    return table


BUNDLE_ASSETS = [bundle_rules]
