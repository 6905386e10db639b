"""The served recommender: an ``implicit`` model over the weighted customer x product matrix, wrapped as an
``mlflow.pyfunc.PythonModel``.

``predict`` takes one request per row, with a ``kind`` column:

- ``customer``: ``customer_id`` -> the top ``k`` products for that customer, excluding products they already
  bought; a customer with no history gets the most popular products (the fallback is named in ``source``).
- ``basket``: ``product_ids`` (comma-separated ids of an anonymous basket) -> the top ``k`` products for a
  visitor holding that basket, excluding the basket itself; unknown ids are ignored, an empty basket gets
  the most popular products.
- ``similar``: ``product_id`` -> the ``k`` products most similar to it (an unknown product, or one no
  customer touched, gets the most popular products).

It returns one row per recommendation: ``request`` (the input row's position), ``kind``, ``rank`` (1 = best),
``product_id``, ``score`` and ``source`` (``model`` or ``popularity``). ``params={"k": n}`` sets the length.

The fitted state is plain picklable objects: the ``implicit`` model, numpy arrays and scipy CSR matrices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import scipy.sparse as sp
from mlflow.pyfunc.model import PythonModel
from threadpoolctl import threadpool_limits

from storeml_assets.lifecycle.generic import Prepared

KINDS = ("customer", "basket", "similar")
DEFAULT_K = 10
OUTPUT_COLUMNS = ("request", "kind", "rank", "product_id", "score", "source")
#: Candidate algorithms (``implicit`` models); :data:`ALGORITHM` is the one chosen by measurement
#: (docs/families/recommendations.md: ALS on BM25-weighted feedback led item-item and BPR at ``small``).
ALGORITHMS = ("als", "bpr", "item_cosine", "item_bm25")
ALGORITHM = "als"
ALS_PARAMS = {"factors": 24, "regularization": 0.1, "alpha": 0.5, "iterations": 15}
#: BM25 weighting of the customer x product matrix before ALS/BPR (damps heavy customers and products).
BM25_K1, BM25_B = 1.2, 0.75
#: Factor-model scores get this times log(1 + training purchases) of the product: a popularity prior.
POPULARITY_PRIOR = 0.03
BPR_PARAMS = {"factors": 64, "learning_rate": 0.05, "regularization": 0.01, "iterations": 100}
NEIGHBOURS = 50


def make_model(algorithm: str, seed: int) -> Any:
    """A fresh ``implicit`` model for ``algorithm`` (one of :data:`ALGORITHMS`)."""
    from implicit.als import AlternatingLeastSquares
    from implicit.bpr import BayesianPersonalizedRanking
    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

    if algorithm == "als":
        return AlternatingLeastSquares(**ALS_PARAMS, random_state=seed, num_threads=1,
                                       calculate_training_loss=False)
    if algorithm == "bpr":
        return BayesianPersonalizedRanking(**BPR_PARAMS, random_state=seed, num_threads=1)
    if algorithm == "item_cosine":
        return CosineRecommender(K=NEIGHBOURS, num_threads=1)
    if algorithm == "item_bm25":
        return BM25Recommender(K=NEIGHBOURS, num_threads=1)
    raise ValueError(f"unknown recommender algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")


@dataclass
class Matrix:
    """The weighted customer x product matrix of some events, with the ids of its rows and columns."""

    customer_ids: np.ndarray
    product_ids: np.ndarray
    values: sp.csr_matrix


def interaction_matrix(events: pl.DataFrame, product_ids: np.ndarray, column: str = "weight") -> Matrix:
    """Sum ``column`` per customer and product over ``events``; columns follow ``product_ids`` (sorted),
    events on products outside it are dropped."""
    customers = np.sort(events.get_column("customer_id").unique().to_numpy())
    rows = np.searchsorted(customers, events.get_column("customer_id").to_numpy())
    cols = np.searchsorted(product_ids, events.get_column("product_id").to_numpy())
    cols = np.clip(cols, 0, max(len(product_ids) - 1, 0))
    inside = product_ids[cols] == events.get_column("product_id").to_numpy() if len(product_ids) else cols < 0
    values = events.get_column(column).to_numpy().astype(np.float32) if column in events.columns else \
        np.ones(events.height, dtype=np.float32)
    matrix = sp.csr_matrix((values[inside], (rows[inside], cols[inside])), shape=(len(customers), len(product_ids)),
                           dtype=np.float32)
    matrix.sum_duplicates()
    return Matrix(customers, product_ids, matrix)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` highest finite scores per row, best first (ties: lower index first)."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] else \
        np.tile(np.arange(scores.shape[1]), (scores.shape[0], 1))
    picked = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -picked), axis=1)
    return np.take_along_axis(part, order, axis=1)


class Recommender(PythonModel):
    """An ``implicit`` recommender over the storefront's implicit feedback (see the module docstring)."""

    def __init__(self, algorithm: str, model: Any, history: Matrix, bought: sp.csr_matrix,
                 popularity: np.ndarray, inactive: np.ndarray) -> None:
        self.algorithm = algorithm
        self.model = model
        self.history = history  # training matrix (customers x products), as fitted
        self.bought = bought  # same shape: 1 where the customer bought the product before the cutoff
        self.popularity = popularity  # training purchases by product column (the fallback)
        self.inactive = inactive  # product columns never recommended (no longer sold)
        self._row = {int(c): i for i, c in enumerate(history.customer_ids)}

    @property
    def product_ids(self) -> np.ndarray:
        return self.history.product_ids

    # -- scoring ---------------------------------------------------------------------------------

    def scores_for_rows(self, user_items: sp.csr_matrix, rows: np.ndarray | None = None) -> np.ndarray:
        """Dense scores (len x products) of customers given by their interaction rows ``user_items``;
        ``rows`` (training row per customer) uses the fitted factors where the model has them."""
        with threadpool_limits(1, "blas"):
            if self.algorithm in ("als", "bpr"):
                if rows is not None:
                    users = np.asarray(self.model.user_factors)[rows]
                elif self.algorithm == "als":
                    users = np.asarray(self.model.recalculate_user(np.arange(user_items.shape[0]), user_items))
                    users = users.reshape(user_items.shape[0], -1)
                else:  # BPR cannot fold in a new customer: the mean of their items' factors
                    items = np.asarray(self.model.item_factors)
                    weights = sp.diags(1.0 / np.maximum(np.asarray(user_items.sum(axis=1)).ravel(), 1e-9))
                    users = np.asarray((weights @ user_items) @ items)
                scores = np.asarray(users @ np.asarray(self.model.item_factors).T, dtype=np.float64)
                return scores + POPULARITY_PRIOR * np.log1p(self.popularity)[None, :]
            similarity = self.model.similarity  # item-item neighbourhoods
            return np.asarray((user_items @ similarity).todense(), dtype=np.float64)

    def recommend_rows(self, user_items: sp.csr_matrix, exclude: sp.csr_matrix, k: int,
                       rows: np.ndarray | None = None, batch: int = 2_048) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` product columns and scores per row, excluding the columns set in ``exclude``."""
        n = user_items.shape[0]
        k = min(k, len(self.product_ids))
        cols = np.zeros((n, k), dtype=np.int64)
        values = np.zeros((n, k), dtype=np.float64)
        for start in range(0, n, batch):
            stop = min(start + batch, n)
            scores = self.scores_for_rows(user_items[start:stop], None if rows is None else rows[start:stop])
            scores[exclude[start:stop].nonzero()] = -np.inf
            scores[:, self.inactive] = -np.inf
            picked = top_k(scores, k)
            cols[start:stop] = picked
            values[start:stop] = np.take_along_axis(scores, picked, axis=1)
        return cols, values

    def popular(self, k: int, exclude: set[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most popular product columns (and their popularity), skipping ``exclude``."""
        order = np.lexsort((np.arange(len(self.popularity)), -self.popularity))
        order = order[~np.isin(order, self.inactive)]
        if exclude:
            order = order[~np.isin(order, list(exclude))]
        order = order[:k]
        return order, self.popularity[order]

    def similar(self, product_id: int, k: int) -> tuple[np.ndarray, np.ndarray, str]:
        """The ``k`` products most similar to ``product_id`` (columns, scores, source)."""
        col = int(np.searchsorted(self.product_ids, product_id))
        if col >= len(self.product_ids) or self.product_ids[col] != product_id or \
                self.history.values[:, col].nnz == 0:
            cols, scores = self.popular(k, {col} if col < len(self.product_ids) else None)
            return cols, scores, "popularity"
        ids, scores = self.model.similar_items(col, N=min(k + 1 + len(self.inactive), len(self.product_ids)))
        keep = (np.asarray(ids) != col) & ~np.isin(np.asarray(ids), self.inactive)
        return np.asarray(ids)[keep][:k], np.asarray(scores, dtype=np.float64)[keep][:k], "model"

    # -- serving ---------------------------------------------------------------------------------

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        k = int((params or {}).get("k", DEFAULT_K))
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if "kind" not in model_input.columns:
            raise ValueError(f"model input needs a 'kind' column ({', '.join(KINDS)}); got {list(model_input.columns)}")
        parts: list[pd.DataFrame] = []
        for position, row in enumerate(model_input.to_dict("records")):
            kind = str(row["kind"])
            if kind == "customer":
                cols, scores, source = self._for_customer(_int(row, "customer_id"), k)
            elif kind == "basket":
                cols, scores, source = self._for_basket(_ids(row.get("product_ids")), k)
            elif kind == "similar":
                cols, scores, source = self.similar(_int(row, "product_id"), k)
            else:
                raise ValueError(f"row {position}: unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
            parts.append(pd.DataFrame({
                "request": position, "kind": kind, "rank": np.arange(1, len(cols) + 1, dtype=np.int64),
                "product_id": self.product_ids[cols].astype(np.int64), "score": np.asarray(scores, dtype=np.float64),
                "source": source}))
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
                OUTPUT_COLUMNS, ("int64", "object", "int64", "int64", "float64", "object"), strict=True)})
        return pd.concat(parts, ignore_index=True)

    def _for_customer(self, customer_id: int, k: int) -> tuple[np.ndarray, np.ndarray, str]:
        row = self._row.get(customer_id)
        if row is None:
            cols, scores = self.popular(k)
            return cols, scores, "popularity"
        rows = np.array([row])
        cols, scores = self.recommend_rows(self.history.values[rows], self.bought[rows], k, rows=rows)
        return cols[0], scores[0], "model"

    def _for_basket(self, product_ids: list[int], k: int) -> tuple[np.ndarray, np.ndarray, str]:
        cols = np.searchsorted(self.product_ids, product_ids) if product_ids else np.array([], dtype=np.int64)
        cols = cols[(cols < len(self.product_ids))]
        cols = np.unique(cols[self.product_ids[cols] == np.asarray(product_ids)[: len(cols)]]) if len(cols) else cols
        if not len(cols):
            top, scores = self.popular(k)
            return top, scores, "popularity"
        basket = sp.csr_matrix((np.full(len(cols), 8.0, dtype=np.float32), (np.zeros(len(cols)), cols)),
                               shape=(1, len(self.product_ids)))
        top, scores = self.recommend_rows(basket, basket, k)
        return top[0], scores[0], "model"


def _int(row: dict[str, Any], column: str) -> int:
    value = row.get(column)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        raise ValueError(f"{row.get('kind')} request needs {column!r}, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{row.get('kind')} request: {column} must be an integer id, got {value!r}") from None


def _ids(value: Any) -> list[int]:
    """Product ids of a basket: a comma-separated string or a list; blanks ignored."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        return sorted({int(str(item).strip()) for item in items if str(item).strip()})
    except ValueError:
        raise ValueError(f"basket product_ids must be integer ids, got {value!r}") from None


def fit(prepared: Prepared, seed: int, algorithm: str = ALGORITHM) -> Recommender:
    """Fit ``algorithm`` on the weighted training events of ``prepared``."""
    product_ids = prepared.extra["products"].get_column("product_id").to_numpy().astype(np.int64)
    history = interaction_matrix(prepared.train, product_ids)
    purchases = prepared.train.filter(pl.col("interaction_type") == "purchase")
    bought_rows = np.searchsorted(history.customer_ids, purchases.get_column("customer_id").to_numpy())
    bought_cols = np.searchsorted(product_ids, purchases.get_column("product_id").to_numpy())
    bought = sp.csr_matrix((np.ones(len(bought_rows), dtype=np.float32), (bought_rows, bought_cols)),
                           shape=history.values.shape)
    bought.sum_duplicates()
    bought.data[:] = 1.0
    popularity = np.bincount(bought_cols, minlength=len(product_ids)).astype(np.float64)  # training purchases
    if algorithm in ("als", "bpr"):
        from implicit.nearest_neighbours import bm25_weight

        history.values = bm25_weight(history.values, K1=BM25_K1, B=BM25_B).tocsr().astype(np.float32)
    with threadpool_limits(1, "blas"):
        model = make_model(algorithm, seed)
        model.fit(history.values, show_progress=False)
    active = prepared.extra["products"].get_column("is_active").to_numpy()
    return Recommender(algorithm, model, history, bought, popularity, np.nonzero(~active)[0])
