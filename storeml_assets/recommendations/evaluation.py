"""Ranking metrics at 10 on the purchases after the cutoff, beside global and recent popularity and the
oracle, all measured on the same customers in the same run.

Every ranker recommends 10 products per scored customer, excluding the products that customer bought
before the cutoff. The relevant products are the customer's new purchases in the 14 days after it
(:mod:`.data`). Metrics (binary relevance, averaged over scored customers):

- ``precision_at_10``: hits / 10; ``recall_at_10``: hits / relevant products;
- ``ndcg_at_10``: DCG of the hits over the ideal DCG of min(10, relevant) hits;
- ``map_at_10``: mean of precision at each hit's rank, over min(10, relevant);
- ``coverage``: distinct products recommended to the scored customers / active catalogue products.

Baselines: ``popularity`` (the most bought products before the cutoff) and ``recent_popularity`` (the
most bought in the 14 days before it). The oracle ranks by each customer's true purchase probability
(planted taste and product appeal, ``ground_truth.customer_taste`` and ``product_appeal``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import numpy as np
import polars as pl
import scipy.sparse as sp

from storeml_assets.lifecycle.generic import Evaluation, Prepared
from storeml_assets.recommendations.data import HOLDOUT_DAYS
from storeml_assets.recommendations.model import Recommender, top_k

K = 10
METRICS = ("ndcg_at_10", "precision_at_10", "recall_at_10", "map_at_10", "coverage")
_DISCOUNT = 1.0 / np.log2(np.arange(2, K + 2))


def ranking_metrics(recommended: np.ndarray, relevant: list[set[int]], catalogue_size: int) -> dict[str, float]:
    """The metrics of :data:`METRICS` for ``recommended`` (customers x up to K product ids, best first)
    against each customer's ``relevant`` product ids."""
    if len(relevant) == 0:
        return {m: float("nan") for m in METRICS}
    ndcg = precision = recall = average_precision = 0.0
    for row, truth in zip(recommended, relevant, strict=True):
        hits = np.fromiter((p in truth for p in row[:K]), dtype=bool, count=min(K, len(row)))
        n_truth = len(truth)
        if n_truth == 0:
            continue
        n_hits = int(hits.sum())
        ideal = _DISCOUNT[: min(K, n_truth)].sum()
        ndcg += float(_DISCOUNT[: len(hits)][hits].sum() / ideal)
        precision += n_hits / K
        recall += n_hits / n_truth
        if n_hits:
            at_hits = np.cumsum(hits)[hits] / (np.nonzero(hits)[0] + 1)
            average_precision += float(at_hits.sum() / min(K, n_truth))
    n = len(relevant)
    distinct = len(np.unique(recommended)) if recommended.size else 0
    return {"ndcg_at_10": ndcg / n, "precision_at_10": precision / n, "recall_at_10": recall / n,
            "map_at_10": average_precision / n, "coverage": distinct / max(catalogue_size, 1)}


def ndcg_per_customer(recommended: np.ndarray, relevant: list[set[int]]) -> np.ndarray:
    """NDCG@10 of each customer's ``recommended`` product ids against their ``relevant`` ones."""
    out = np.zeros(len(relevant))
    for i, (row, truth) in enumerate(zip(recommended, relevant, strict=True)):
        if truth:
            hits = np.fromiter((p in truth for p in row[:K]), dtype=bool, count=min(K, len(row)))
            out[i] = _DISCOUNT[: len(hits)][hits].sum() / _DISCOUNT[: min(K, len(truth))].sum()
    return out


def activity_segments(model: Recommender, rows: np.ndarray, rankings: dict[str, np.ndarray],
                      relevant: list[set[int]]) -> dict[str, dict[str, float]]:
    """NDCG@10 of each ranker for light and heavy customers (training products touched at most / above the
    median of the scored customers): the consistency gate compares the model with popularity in each."""
    touched = model.history.values[rows].getnnz(axis=1)
    heavy = touched > np.median(touched)
    out: dict[str, dict[str, float]] = {}
    for name, cols in rankings.items():
        per = ndcg_per_customer(model.product_ids[cols], relevant)
        out[name] = {"light": float(per[~heavy].mean()) if (~heavy).any() else float("nan"),
                     "heavy": float(per[heavy].mean()) if heavy.any() else float("nan")}
    return out


def rank_by(score_rows: Callable[[np.ndarray], np.ndarray], exclude: sp.csr_matrix, rows: np.ndarray,
            blocked: np.ndarray, batch: int = 2_048) -> np.ndarray:
    """Top-K product columns per entry of ``rows`` by ``score_rows(batch of rows) -> dense scores``,
    excluding the columns set in ``exclude[rows]`` and the ``blocked`` columns (inactive products)."""
    out = []
    for start in range(0, len(rows), batch):
        part = rows[start:start + batch]
        scores = np.array(score_rows(part), dtype=np.float64)
        scores[exclude[part].nonzero()] = -np.inf
        scores[:, blocked] = -np.inf
        out.append(top_k(scores, K))
    return np.concatenate(out) if out else np.zeros((0, K), dtype=np.int64)


def purchase_counts(purchases: pl.DataFrame, product_ids: np.ndarray) -> np.ndarray:
    """Lines bought per product column."""
    cols = np.searchsorted(product_ids, purchases.get_column("product_id").to_numpy())
    cols = cols[(cols < len(product_ids))]
    return np.bincount(cols, minlength=len(product_ids)).astype(np.float64)


def oracle_scores(truth: tuple[pl.DataFrame, pl.DataFrame], customer_ids: np.ndarray,
                  products: pl.DataFrame) -> Callable[[np.ndarray], np.ndarray]:
    """``score_rows`` of the oracle: log appeal plus the affinities each product matches, by customer row."""
    taste, appeal = truth
    product_ids = products.get_column("product_id").to_numpy()
    by_product = products.select("product_id").join(appeal, on="product_id", how="left")
    log_appeal = np.log(np.maximum(by_product.get_column("popularity").fill_null(0.0).to_numpy(), 1e-12))
    meta = by_product.select(pl.col("category_id").cast(pl.Int64), pl.col("brand").cast(pl.String))

    def one_hot(kind: str, column: str) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        rows = taste.filter(pl.col("kind") == kind).select("user_id", column, "affinity").drop_nulls()
        keys = np.unique(np.concatenate([rows.get_column(column).to_numpy().astype(str),
                                         meta.get_column(column).drop_nulls().to_numpy().astype(str)]))
        users = np.searchsorted(customer_ids, rows.get_column("user_id").to_numpy())
        found = (users < len(customer_ids)) & (customer_ids[np.minimum(users, len(customer_ids) - 1)]
                                                == rows.get_column("user_id").to_numpy())
        affinity = sp.csr_matrix((rows.get_column("affinity").to_numpy()[found],
                                  (users[found], np.searchsorted(keys, rows.get_column(column).to_numpy().astype(str))[found])),
                                 shape=(len(customer_ids), len(keys)))
        values = meta.get_column(column).to_numpy().astype(str)
        has = meta.get_column(column).is_not_null().to_numpy()
        membership = sp.csr_matrix((np.ones(int(has.sum())), (np.searchsorted(keys, values[has]), np.nonzero(has)[0])),
                                   shape=(len(keys), len(product_ids)))
        return affinity, membership

    parts = [one_hot("category", "category_id"), one_hot("brand", "brand")]

    def score_rows(rows: np.ndarray) -> np.ndarray:
        scores = np.tile(log_appeal, (len(rows), 1))
        for affinity, membership in parts:
            scores += (affinity[rows] @ membership).toarray()
        return scores

    return score_rows


def evaluate(model: Recommender, prepared: Prepared) -> Evaluation:
    """The model, both baselines and the oracle on the customers scored after the cutoff."""
    holdout: pl.DataFrame = prepared.holdout
    products: pl.DataFrame = prepared.extra["products"]
    product_ids = model.product_ids
    relevant_by = holdout.group_by("customer_id").agg(pl.col("product_id")).sort("customer_id")
    # A model fitted on other data (the champion, judged on a new candidate's holdout) scores the customers it
    # knows; the others are counted in the details (the candidate, fitted on this split, knows every one).
    known = relevant_by.get_column("customer_id").is_in(list(model._row))
    unknown_customers = int((~known).sum())
    relevant_by = relevant_by.filter(known)
    customers = relevant_by.get_column("customer_id").to_numpy()
    relevant = [set(ids) for ids in relevant_by.get_column("product_id").to_list()]
    rows = np.array([model._row[int(c)] for c in customers], dtype=np.int64)
    active_products = int(products.get_column("is_active").sum()) or products.height

    model_cols, _ = model.recommend_rows(model.history.values[rows], model.bought[rows], K, rows=rows)
    rankings = {"model": model_cols}
    train: pl.DataFrame = prepared.train
    purchases = train.filter(pl.col("interaction_type") == "purchase")
    cutoff = prepared.extra["cutoff"]
    baselines = {
        "popularity": purchase_counts(purchases, product_ids),
        "recent_popularity": purchase_counts(
            purchases.filter(pl.col("occurred_at") >= cutoff - timedelta(days=HOLDOUT_DAYS)), product_ids)
        + 1e-6 * purchase_counts(purchases, product_ids),  # ties (no recent sale) broken by all-time sales
    }
    for name, counts in baselines.items():
        rankings[name] = rank_by(_constant(counts), model.bought, rows, model.inactive)
    truth = prepared.extra.get("truth")
    if truth is not None:
        # over the model's own product columns: a champion fitted before newer products ranks in its catalogue
        catalogue = pl.DataFrame({"product_id": product_ids}).join(products, on="product_id", how="left",
                                                                   maintain_order="left")
        rankings["oracle"] = rank_by(oracle_scores(truth, model.history.customer_ids, catalogue), model.bought, rows,
                                     model.inactive)

    segments = activity_segments(model, rows, rankings, relevant)
    figures = {name: ranking_metrics(product_ids[cols], relevant, active_products) for name, cols in rankings.items()}
    metrics = figures.pop("model")
    oracle = figures.pop("oracle", None)
    ratios = {f"ndcg_vs_{name}": _ratio(metrics["ndcg_at_10"], values["ndcg_at_10"])
              for name, values in {**figures, **({"oracle": oracle} if oracle else {})}.items()}
    details = {"scored_customers": len(customers), "cold_customers": int(prepared.extra.get("cold_customers", 0)),
               "customers_unknown_to_model": unknown_customers,
               "relevant_purchases": holdout.height, "cutoff": cutoff.isoformat(), "algorithm": model.algorithm,
               "excludes_already_bought": True, "ratios": ratios,
               "ndcg_by_activity": segments}
    return Evaluation(metrics=metrics, baselines=figures, oracle=oracle,
                      oracle_reason="" if oracle else "no planted taste (ground_truth.customer_taste) in these data",
                      details=details, markdown=_markdown(metrics, figures, oracle, details))


def _constant(scores: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """``score_rows`` giving every customer the same ``scores`` (a popularity baseline)."""
    return lambda part: np.broadcast_to(scores, (len(part), len(scores)))


def _ratio(a: float, b: float) -> float:
    return a / b if b and np.isfinite(a) and np.isfinite(b) else float("nan")


def _markdown(metrics: dict[str, float], baselines: dict[str, dict[str, float]], oracle: dict[str, float] | None,
              details: dict[str, object]) -> str:
    columns = {"model": metrics, **baselines, **({"oracle": oracle} if oracle else {})}
    lines = ["| metric | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    lines += [f"| {m} | " + " | ".join(f"{v[m]:.4f}" for v in columns.values()) + " |" for m in METRICS]
    lines.append("")
    lines.append(f"{details['scored_customers']} customers scored on their new purchases in the {HOLDOUT_DAYS} days "
                 f"after {details['cutoff']}; already-bought products are never recommended; "
                 f"{details['cold_customers']} buyers in the window had no history (popularity fallback, not scored).")
    return "\n".join(lines)
