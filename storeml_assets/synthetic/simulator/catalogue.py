"""The product catalogue (random stream ``STREAM_CATALOGUE``): categories, products, variants,
images and inventory, with each product's Zipf popularity and hidden quality."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from storeml_assets.synthetic import vocab
from storeml_assets.synthetic.scales import ScalePreset
from storeml_assets.synthetic.simulator.common import (
    STREAM_CATALOGUE,
    Rng,
    Streams,
    epoch,
    money,
    ts,
    within_group_index,
)
from storeml_assets.synthetic.simulator.config import DAY, SimulationConfig


@dataclass
class Catalog:
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


@dataclass
class _Categories:
    frame: pl.DataFrame
    leaf_ids: list[int]
    leaf_name: list[str]
    leaf_top: list[str]
    leaf_nouns: list[tuple[str, ...]]


@dataclass
class _Products:
    frame: pl.DataFrame
    leaf: np.ndarray  # leaf category index by product index
    price_cents: np.ndarray
    names: np.ndarray
    nouns: np.ndarray


@dataclass
class _Variants:
    frame: pl.DataFrame
    n_variants: np.ndarray
    variant_start: np.ndarray
    delta_cents: np.ndarray


def build_catalog(cfg: SimulationConfig, preset: ScalePreset) -> Catalog:
    """The whole catalogue of ``preset.n_products`` products."""
    rng = Streams(cfg.seed, STREAM_CATALOGUE)
    cats = _categories()
    n = preset.n_products
    prods = _products(rng, cfg, n, cats)
    product_ids = prods.frame["product_id"].to_numpy()
    top_of_product = np.array([cats.leaf_top[j] for j in prods.leaf], dtype=object)
    variants = _variants(rng, top_of_product, product_ids)
    images = _images(rng, product_ids, prods.names)

    # popularity: Zipf over a random ranking of the products
    rank = rng.permutation(n)
    popularity = 1.0 / np.power(rank + 1.0, 1.05)
    popularity_cum = np.cumsum(popularity)
    premium_cum = np.cumsum(popularity * np.power(prods.price_cents / np.median(prods.price_cents), 0.6))
    inventory = _inventory(rng, cfg, product_ids, popularity / popularity.sum() * preset.n_orders)
    return Catalog(
        categories=cats.frame,
        products=prods.frame,
        variants=variants.frame,
        images=images,
        inventory=inventory,
        price_cents=prods.price_cents,
        category_index=prods.leaf,
        top_name_by_leaf=cats.leaf_top,
        leaf_name=cats.leaf_name,
        n_variants=variants.n_variants,
        variant_start=variants.variant_start,
        variant_delta_cents=variants.delta_cents,
        popularity_cum=popularity_cum,
        premium_cum=premium_cum,
        popularity_rank=rank,
        quality=rng.normal(0.0, 0.6, n),
        names=prods.names.astype(str),
        nouns=prods.nouns.astype(str),
    )


def pick_variant(rng: Rng, cat: Catalog, prod: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A random variant index (or -1) per product row, and its price delta in cents."""
    nv = cat.n_variants[prod]
    vidx = cat.variant_start[prod] + np.floor(rng.random(len(prod)) * np.maximum(nv, 1)).astype(np.int64)
    has = nv > 0
    vidx = np.where(has, vidx, -1)
    delta = np.where(has, cat.variant_delta_cents[np.where(has, vidx, 0)] if len(cat.variant_delta_cents) else 0, 0)
    return vidx, delta.astype(np.int64)


def _categories() -> _Categories:
    """The two-level category tree of ``vocab.CATALOG`` (no randomness)."""
    cat_ids: list[int] = []
    cat_names: list[str] = []
    cat_parent: list[int | None] = []
    cat_desc: list[str] = []
    out = _Categories(pl.DataFrame(), [], [], [], [])
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
            out.leaf_ids.append(next_id)
            out.leaf_name.append(sub)
            out.leaf_top.append(top)
            out.leaf_nouns.append(sub_nouns)
            next_id += 1
    out.frame = pl.DataFrame(
        {
            "category_id": pl.Series(cat_ids, dtype=pl.Int64),
            "name": cat_names,
            "parent_category_id": pl.Series(cat_parent, dtype=pl.Int64),
            "description": cat_desc,
        }
    )
    return out


def _products(rng: Rng, cfg: SimulationConfig, n: int, cats: _Categories) -> _Products:
    leaf_top, leaf_nouns, leaf_name = cats.leaf_top, cats.leaf_nouns, cats.leaf_name
    leaf = rng.integers(0, len(cats.leaf_ids), n)
    base_price = np.array([vocab.CATALOG[leaf_top[i]][0] for i in range(len(cats.leaf_ids))])
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
    start_ts = epoch(cfg.start_date)
    launched = start_ts - rng.integers(30, 3 * 365, n) * DAY
    products = pl.DataFrame(
        {
            "product_id": product_ids,
            "sku": [f"SKU-{i:06d}" for i in product_ids],
            "name": names.astype(str),
            "description": [f"{nm}: a {lf.lower()} product by {br}." for nm, lf, br in
                            zip(names, (leaf_name[j] for j in leaf), brands, strict=True)],
            "category_id": np.array(cats.leaf_ids, dtype=np.int64)[leaf],
            "brand": brands.astype(str),
            "price": money(price_cents),
            "cost": money(cost_cents),
            "is_active": rng.random(n) > 0.03,
            "launched_at": pl.Series(launched * 1_000_000).cast(pl.Datetime("us")).dt.date(),
        }
    )
    return _Products(products, leaf, price_cents, names, nouns)


def _variants(rng: Rng, top_of_product: np.ndarray, product_ids: np.ndarray) -> _Variants:
    """Sized categories get 4 sizes, coloured ones 2-3 colours, the rest none."""
    n = len(product_ids)
    sized = np.isin(top_of_product, vocab.SIZED_CATEGORIES)
    coloured = np.isin(top_of_product, vocab.COLOURED_CATEGORIES)
    n_var = np.where(sized, len(vocab.SIZES), np.where(coloured, rng.integers(2, 4, n), 0)).astype(np.int64)
    var_start = np.cumsum(n_var) - n_var
    v_prod = np.repeat(np.arange(n), n_var)
    v_k = within_group_index(n_var)
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
            "price_delta": money(delta_cents),
            "stock_quantity": rng.integers(0, 400, len(v_prod)).astype(np.int32),
        }
    )
    return _Variants(variants, n_var, var_start, delta_cents)


def _images(rng: Rng, product_ids: np.ndarray, names: np.ndarray) -> pl.DataFrame:
    n = len(product_ids)
    n_img = rng.integers(1, 5, n)
    i_prod = np.repeat(np.arange(n), n_img)
    i_k = within_group_index(n_img)
    return pl.DataFrame(
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


def _inventory(rng: Rng, cfg: SimulationConfig, product_ids: np.ndarray, demand: np.ndarray) -> pl.DataFrame:
    """Stock per product and warehouse, growing with the product's expected orders (``demand``)."""
    n = len(product_ids)
    n_wh = len(vocab.WAREHOUSES)
    inv_prod = np.repeat(np.arange(n), n_wh)
    on_hand = rng.poisson(5 + demand[inv_prod] * 0.05).astype(np.int32)
    end_ts = epoch(cfg.end_date)
    return pl.DataFrame(
        {
            "inventory_id": np.arange(1, len(inv_prod) + 1, dtype=np.int64),
            "product_id": product_ids[inv_prod],
            "warehouse": np.tile(np.array(vocab.WAREHOUSES), n),
            "quantity_on_hand": on_hand,
            "quantity_reserved": np.minimum(rng.poisson(2, len(inv_prod)), on_hand).astype(np.int32),
            "reorder_level": np.full(len(inv_prod), 10, dtype=np.int32),
            "last_restocked_at": ts(end_ts - rng.integers(0, 60 * DAY, len(inv_prod))),
        }
    )
