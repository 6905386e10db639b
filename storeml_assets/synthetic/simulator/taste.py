"""Customer taste (random stream ``STREAM_TASTE``): each customer's favourite categories and brand,
and the product choice that follows them.

Without taste, every order line and every product view would follow the catalogue's global
popularity, and there would be nothing for a recommender to learn. Here each customer likes
:data:`FAVOURITE_CATEGORIES` leaf categories and one brand, with a log-affinity each; the probability
that a customer's order line is product ``p`` is::

    P(p | customer) = appeal(p) * exp(category_affinity[leaf(p)] + brand_affinity[brand(p)]) / Z(customer)

with ``appeal`` the catalogue's popularity (its premium-tilted popularity after a drift cut-over).
Browsing (product views in browse and order sessions) follows the same taste, with its log-affinities
scaled by :data:`BROWSE_STRENGTH`.

The choice maps the uniform draws the orders and sessions already make (one per line or view)
through the customer's own inverse CDF, so no other random stream changes its number of draws.
The inverse CDF is exact and cheap: products are grouped in (leaf category, brand) cells; the
draw picks a cell by the customer's cell weights, then a product within the cell by appeal.

The planted truth (``ground_truth.customer_taste`` and ``ground_truth.product_appeal``) is what an
oracle needs to rank the catalogue for each customer by their true purchase probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from storeml_assets.synthetic.simulator.catalogue import Catalog
from storeml_assets.synthetic.simulator.common import STREAM_TASTE, History

#: Favourite leaf categories per customer, and the range of their log-affinity.
FAVOURITE_CATEGORIES = 2
CATEGORY_AFFINITY = (3.0, 4.5)
#: One favourite brand per customer, and the range of its log-affinity.
BRAND_AFFINITY = (2.0, 3.0)
#: Browsing follows the taste with the log-affinities scaled by this factor. At 0.5 (browsing wider than
#: buying) an ALS model reached about 0.68x the oracle's NDCG@10 at ``small``; at 1.0, 0.78x.
BROWSE_STRENGTH = 1.0


@dataclass
class Taste:
    """Per customer: favourite leaf categories and brand with their log-affinities; per product its
    (leaf, brand) cell; and the per-cell appeal the choice draws from."""

    fav_leaf: np.ndarray  # (n_users, FAVOURITE_CATEGORIES) leaf category index
    leaf_affinity: np.ndarray  # (n_users, FAVOURITE_CATEGORIES)
    fav_brand: np.ndarray  # (n_users,) brand index into ``brands``
    brand_affinity: np.ndarray  # (n_users,)
    brands: np.ndarray  # brand name by brand index
    product_brand: np.ndarray  # brand index by product index
    leaf_of_cell: np.ndarray
    brand_of_cell: np.ndarray
    cell_order: np.ndarray  # product indices sorted by cell
    cell_start: np.ndarray  # first position of each cell in ``cell_order`` (n_cells + 1 entries)
    popularity: np.ndarray  # appeal by product index before a drift cut-over
    premium: np.ndarray  # appeal by product index after it

    @property
    def n_users(self) -> int:
        return len(self.fav_brand)

    def choose(self, u: np.ndarray, user: np.ndarray, post: np.ndarray | None = None,
               strength: float = 1.0) -> np.ndarray:
        """Product index per row: the uniform draw ``u`` through the inverse CDF of the row's customer
        ``user`` (premium appeal where ``post``), with the log-affinities scaled by ``strength``."""
        out = np.empty(len(u), dtype=np.int64)
        post = np.zeros(len(u), dtype=bool) if post is None else post
        for is_post, appeal in ((False, self.popularity), (True, self.premium)):
            rows = np.nonzero(post == is_post)[0]
            if len(rows):
                out[rows] = self._choose(u[rows], user[rows], appeal, strength)
        return out

    def _choose(self, u: np.ndarray, user: np.ndarray, appeal: np.ndarray, strength: float) -> np.ndarray:
        sorted_appeal = appeal[self.cell_order]
        prefix = np.concatenate([[0.0], np.cumsum(sorted_appeal)])
        cell_mass = prefix[self.cell_start[1:]] - prefix[self.cell_start[:-1]]
        users, inverse = np.unique(user, return_inverse=True)
        weights = cell_mass[None, :] * np.exp(strength * self.log_affinity(users))
        cum = np.cumsum(weights, axis=1)
        total = cum[:, -1:]
        # one monotone array over all users: user k's normalised CDF shifted by k
        shifted = (cum / total + np.arange(len(users))[:, None]).ravel()
        target = inverse + np.clip(u, 0.0, np.nextafter(1.0, 0.0))
        flat = np.minimum(np.searchsorted(shifted, target, side="right"), shifted.size - 1)
        n_cells = len(cell_mass)
        cell = flat - inverse * n_cells
        cell = np.clip(cell, 0, n_cells - 1)
        row_cum = cum[inverse, cell]
        row_w = weights[inverse, cell]
        within = np.clip((target - inverse) * total[inverse, 0] - (row_cum - row_w), 0.0, None) / np.maximum(row_w, 1e-300)
        start, end = self.cell_start[cell], self.cell_start[cell + 1]
        goal = prefix[start] + np.clip(within, 0.0, 1.0) * cell_mass[cell]
        pos = np.searchsorted(prefix[1:], goal, side="right")
        return self.cell_order[np.clip(pos, start, end - 1)]

    def log_affinity(self, users: np.ndarray) -> np.ndarray:
        """(len(users), n_cells) log-affinity of each customer for each (leaf, brand) cell."""
        leaf_match = self.leaf_of_cell[None, None, :] == self.fav_leaf[users][:, :, None]
        out = (leaf_match * self.leaf_affinity[users][:, :, None]).sum(axis=1)
        out += (self.brand_of_cell[None, :] == self.fav_brand[users][:, None]) * self.brand_affinity[users][:, None]
        return out


def build_taste(history: History, cat: Catalog, n_users: int) -> Taste:
    """Every customer's favourite categories and brand (stream ``STREAM_TASTE``)."""
    rng = history.stream(STREAM_TASTE)
    n_leaves = len(cat.leaf_name)
    brand_names = cat.products["brand"].to_numpy().astype(str)
    brands, product_brand = np.unique(brand_names, return_inverse=True)
    # favourite leaves: distinct per customer (the first FAVOURITE_CATEGORIES of a random order)
    fav_leaf = np.argsort(rng.random((n_users, n_leaves)), axis=1)[:, :FAVOURITE_CATEGORIES]
    leaf_affinity = rng.uniform(*CATEGORY_AFFINITY, (n_users, FAVOURITE_CATEGORIES))
    fav_brand = rng.integers(0, len(brands), n_users)
    brand_affinity = rng.uniform(*BRAND_AFFINITY, n_users)

    cell_key = cat.category_index.astype(np.int64) * len(brands) + product_brand
    keys, cell_of_product = np.unique(cell_key, return_inverse=True)
    cell_order = np.argsort(cell_of_product, kind="stable")
    cell_start = np.concatenate([[0], np.cumsum(np.bincount(cell_of_product, minlength=len(keys)))])
    popularity = np.diff(cat.popularity_cum, prepend=0.0)
    premium = np.diff(cat.premium_cum, prepend=0.0)
    return Taste(
        fav_leaf=fav_leaf, leaf_affinity=leaf_affinity, fav_brand=fav_brand, brand_affinity=brand_affinity,
        brands=brands, product_brand=product_brand, leaf_of_cell=keys // len(brands),
        brand_of_cell=keys % len(brands), cell_order=cell_order, cell_start=cell_start,
        popularity=popularity, premium=premium,
    )


def taste_truth(taste: Taste, cat: Catalog, user_ids: np.ndarray) -> pl.DataFrame:
    """``ground_truth.customer_taste``: one row per customer and favourite (a leaf category or a
    brand) with its log-affinity: ``P(p | customer)`` is proportional to ``appeal(p)`` times
    ``exp`` of the affinities ``p`` matches (see ``ground_truth.product_appeal``)."""
    leaf_ids = cat.categories.filter(pl.col("parent_category_id").is_not_null())["category_id"].to_numpy()
    n, k = taste.fav_leaf.shape
    categories = pl.DataFrame({
        "user_id": np.repeat(user_ids, k),
        "kind": ["category"] * (n * k),
        "category_id": leaf_ids[taste.fav_leaf.ravel()],
        "brand": pl.Series([None] * (n * k), dtype=pl.String),
        "affinity": taste.leaf_affinity.ravel(),
    })
    brands = pl.DataFrame({
        "user_id": user_ids,
        "kind": ["brand"] * n,
        "category_id": pl.Series([None] * n, dtype=pl.Int64),
        "brand": taste.brands[taste.fav_brand],
        "affinity": taste.brand_affinity,
    })
    return pl.concat([categories, brands]).sort("user_id", "kind", "category_id", nulls_last=True)


def appeal_truth(taste: Taste, cat: Catalog) -> pl.DataFrame:
    """``ground_truth.product_appeal``: each product's appeal before (``popularity``) and after a drift
    cut-over (``premium_appeal``), the base of every customer's purchase probabilities."""
    n = len(taste.popularity)
    return pl.DataFrame({
        "product_id": np.arange(1, n + 1, dtype=np.int64),
        "category_id": cat.products["category_id"],
        "brand": cat.products["brand"],
        "popularity": taste.popularity / taste.popularity.sum(),
        "premium_appeal": taste.premium / taste.premium.sum(),
    })
