"""Association-rule mining over baskets: frequent itemsets and rules with mlxtend's semantics.

The engine never builds a dense one-hot matrix. It counts item supports, keeps the frequent
items only, builds a sparse basket x item matrix of those, counts pairs with one sparse product
(X^T X) and finds longer itemsets level-wise (apriori): candidates sharing a stem (all but their
last two items) are counted together by one sparse product over the baskets holding the stem
(found by intersecting sorted basket-id lists). Metrics are computed vectorized over all rules.

Semantics follow mlxtend 0.25 exactly:

- an itemset is frequent when ``count / n_baskets >= min_support`` (float64, as mlxtend computes
  it), and itemsets are at most ``max_len`` long;
- every frequent itemset of two or more items yields every split into a non-empty antecedent and
  consequent; a rule is kept when ``confidence >= min_confidence`` (``association_rules`` with
  ``metric="confidence"`` and its default ``num_itemsets``);
- the metrics are mlxtend's formulas, edge cases included (conviction is ``inf`` when confidence
  is 1, zhangs_metric and certainty are 0 where their denominator is 0).

Results are pandas DataFrames; itemsets, antecedents and consequents are tuples of item ids in
ascending order.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

BASKET_COLUMN = "basket_id"
ITEM_COLUMN = "item"

METRIC_COLUMNS: tuple[str, ...] = (
    "support",
    "confidence",
    "lift",
    "representativity",
    "leverage",
    "conviction",
    "zhangs_metric",
    "jaccard",
    "certainty",
    "kulczynski",
    "antecedent support",
    "consequent support",
)
RULE_COLUMNS: tuple[str, ...] = ("antecedents", "consequents", *METRIC_COLUMNS)
NAME_COLUMNS: tuple[str, ...] = ("antecedent_names", "consequent_names")
ITEMSET_COLUMNS: tuple[str, ...] = ("itemsets", "support", "count")


@dataclass(frozen=True)
class BasketMatrix:
    """Baskets as a sparse 0/1 matrix: one row per basket, one column per distinct item."""

    matrix: sp.csr_matrix
    items: np.ndarray

    @property
    def n_baskets(self) -> int:
        """Number of baskets (rows)."""
        return int(self.matrix.shape[0])


@dataclass(frozen=True)
class ItemsetLevels:
    """Frequent itemsets by length, as item codes (columns of ``items``) with basket counts."""

    n_baskets: int
    items: np.ndarray
    levels: dict[int, tuple[np.ndarray, np.ndarray]]

    def count(self) -> int:
        """Number of frequent itemsets over all lengths."""
        return sum(len(counts) for _, counts in self.levels.values())


def _check_fraction(name: str, value: float, *, allow_zero: bool) -> float:
    value = float(value)
    ok = (0.0 <= value <= 1.0) if allow_zero else (0.0 < value <= 1.0)
    if not ok:
        bound = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{name} must be in {bound}, got {value!r}")
    return value


def _check_max_len(max_len: int | None) -> int | None:
    if max_len is not None and (isinstance(max_len, bool) or int(max_len) != max_len or max_len < 1):
        raise ValueError(f"max_len must be a positive integer or None, got {max_len!r}")
    return None if max_len is None else int(max_len)


def _dense_int_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Sorted codes of integer labels in linear time when their range is small, else None."""
    if values.dtype.kind not in "iu" or not len(values):
        return None
    low, high = int(values.min()), int(values.max())
    span = high - low + 1
    if span > max(4 * len(values), 1 << 16):
        return None
    shifted = (values - low).astype(np.intp)
    present = np.zeros(span, dtype=bool)
    present[shifted] = True
    mapping = np.cumsum(present, dtype=np.intp) - 1
    return mapping[shifted], (np.flatnonzero(present) + low).astype(values.dtype)


def _labels_sorted(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Factorize ``values`` into codes whose order matches the order of the labels."""
    fast = _dense_int_codes(values.to_numpy())
    if fast is not None:
        return fast
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # mixed, unorderable labels: order them by their text
        codes, uniques = pd.factorize(values.astype(str), sort=True)
        originals = pd.Series(values.to_numpy()).groupby(codes).first()
        return codes, originals.to_numpy(dtype=object)
    return codes, np.asarray(uniques)


def basket_matrix(baskets: Any) -> BasketMatrix:
    """Turn baskets into a :class:`BasketMatrix`; an item repeated within a basket counts once.

    Accepted inputs: a long pandas or polars frame with columns ``basket_id`` and ``item``
    (rows with a null in either are dropped), a scipy.sparse basket x item matrix (non-zero means
    present; item ids are column positions), an existing ``BasketMatrix``, or an iterable of
    baskets, each an iterable of items (empty baskets count as baskets).
    """
    if isinstance(baskets, BasketMatrix):
        return baskets
    if sp.issparse(baskets):
        matrix = sp.csr_matrix(baskets, copy=True)
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
        matrix.data = np.ones(matrix.nnz, dtype=np.int32)
        return BasketMatrix(matrix, np.arange(matrix.shape[1]))
    if type(baskets).__module__.startswith("polars"):
        baskets = baskets.to_pandas()
    if isinstance(baskets, pd.DataFrame):
        missing = [c for c in (BASKET_COLUMN, ITEM_COLUMN) if c not in baskets.columns]
        if missing:
            raise ValueError(
                f"baskets frame needs columns {BASKET_COLUMN!r} and {ITEM_COLUMN!r}; missing {missing}"
            )
        frame = baskets[[BASKET_COLUMN, ITEM_COLUMN]]
        if frame.isna().to_numpy().any():
            frame = frame.dropna()
        fast = _dense_int_codes(frame[BASKET_COLUMN].to_numpy())
        basket_codes = fast[0] if fast is not None else pd.factorize(frame[BASKET_COLUMN])[0]
        n_baskets = int(basket_codes.max()) + 1 if len(basket_codes) else 0
        item_codes, items = _labels_sorted(frame[ITEM_COLUMN])
    elif isinstance(baskets, Iterable) and not isinstance(baskets, str | bytes):
        lists = [list(basket) for basket in baskets]
        lengths = np.fromiter((len(basket) for basket in lists), dtype=np.int64, count=len(lists))
        flat = pd.Series([item for basket in lists for item in basket], dtype=object)
        basket_codes = np.repeat(np.arange(len(lists)), lengths)
        n_baskets = len(lists)
        if len(flat):
            item_codes, items = _labels_sorted(pd.Series(flat.infer_objects()))
        else:
            item_codes, items = np.empty(0, dtype=np.int64), np.empty(0, dtype=object)
    else:
        raise TypeError(
            f"baskets must be a long frame, a sparse matrix or baskets of items, got {type(baskets)}"
        )
    matrix = sp.csr_matrix(
        (np.ones(len(item_codes), dtype=np.int32), (basket_codes, item_codes)),
        shape=(n_baskets, len(items)),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1
    return BasketMatrix(matrix, items)


def _min_count(min_support: float, n_baskets: int) -> int:
    """Smallest basket count c with ``c / n_baskets >= min_support`` in float64, as mlxtend tests it."""
    count = max(int(np.ceil(min_support * n_baskets)) - 2, 0)
    while count / float(n_baskets) < min_support:
        count += 1
    return count


def _void_keys(rows: np.ndarray) -> np.ndarray:
    """One comparable key per row: big-endian bytes, so byte order equals lexicographic order."""
    data = np.ascontiguousarray(rows, dtype=">i4")
    return data.view(np.dtype((np.void, 4 * data.shape[1]))).ravel()


def _lexsort_rows(rows: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort(rows.T[::-1]) if len(rows) else np.empty(0, dtype=np.int64)
    return rows[order], counts[order]


def _intersect_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection of two sorted unique arrays by binary search of the shorter in the longer."""
    if len(a) > len(b):
        a, b = b, a
    if not len(a):
        return a
    pos = np.searchsorted(b, a)
    pos[pos == len(b)] = len(b) - 1
    return a[b[pos] == a]


def _stem_rows(stem: tuple[int, ...], columns: list[np.ndarray]) -> np.ndarray:
    """Sorted ids of the baskets holding every item of ``stem``."""
    rows = columns[stem[0]]
    for item in sorted(stem[1:], key=lambda j: len(columns[j])):
        rows = _intersect_sorted(rows, columns[item])
    return rows


def _next_level(
    previous: np.ndarray, csr: sp.csr_matrix, columns: list[np.ndarray], min_count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Frequent (k+1)-itemsets from the frequent k-itemsets ``previous`` (sorted rows of codes).

    Candidates are apriori's join and prune. They are counted per stem (their first k-1 items):
    the baskets holding the stem are gathered once, and one sparse product over them counts every
    candidate's last two items together.
    """
    k = previous.shape[1]
    known = {tuple(row) for row in previous.tolist()}
    by_prefix: dict[tuple[int, ...], list[int]] = {}
    for row in previous.tolist():
        by_prefix.setdefault(tuple(row[:-1]), []).append(row[-1])
    found_rows: list[np.ndarray] = []
    found_counts: list[np.ndarray] = []
    for stem, lasts in by_prefix.items():
        pairs = [
            (first, last)
            for i, first in enumerate(lasts[:-1])
            for last in lasts[i + 1 :]
            if all((*stem[:j], *stem[j + 1 :], first, last) in known for j in range(k - 1))
        ]
        if not pairs:
            continue
        rows = _stem_rows(stem, columns)
        if len(rows) < min_count:
            continue
        involved = np.unique(np.array(pairs, dtype=np.int64))
        position = {int(item): j for j, item in enumerate(involved.tolist())}
        sub = csr[rows][:, involved]
        together = (sub.T.tocsr() @ sub).toarray() if len(involved) <= 2048 else (sub.T.tocsr() @ sub).tocsr()
        left = np.fromiter((position[a] for a, _ in pairs), dtype=np.int64, count=len(pairs))
        right = np.fromiter((position[b] for _, b in pairs), dtype=np.int64, count=len(pairs))
        counts = np.asarray(together[left, right]).ravel()
        keep = counts >= min_count
        if keep.any():
            chosen = np.array(pairs, dtype=np.int32)[keep]
            stems = np.broadcast_to(np.array(stem, dtype=np.int32), (len(chosen), len(stem)))
            found_rows.append(np.hstack([stems, chosen]))
            found_counts.append(counts[keep].astype(np.int64))
    if not found_rows:
        return np.empty((0, k + 1), dtype=np.int32), np.empty(0, dtype=np.int64)
    return _lexsort_rows(np.vstack(found_rows), np.concatenate(found_counts))


def mine_itemsets(baskets: Any, *, min_support: float, max_len: int | None = None) -> ItemsetLevels:
    """Frequent itemsets by length as item codes and counts (the engine behind both public calls)."""
    min_support = _check_fraction("min_support", min_support, allow_zero=False)
    max_len = _check_max_len(max_len)
    data = basket_matrix(baskets)
    n_baskets = data.n_baskets
    if n_baskets == 0:
        return ItemsetLevels(0, data.items, {})
    min_count = _min_count(min_support, n_baskets)
    item_counts = np.bincount(data.matrix.indices, minlength=len(data.items))
    frequent = np.flatnonzero(item_counts >= min_count)
    levels: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if not len(frequent):
        return ItemsetLevels(n_baskets, data.items, levels)
    levels[1] = (frequent.astype(np.int32).reshape(-1, 1), item_counts[frequent].astype(np.int64))
    if max_len == 1 or len(frequent) < 2:
        return ItemsetLevels(n_baskets, data.items, levels)

    # Keep frequent items only, renumbered 0..F-1 (order preserved, so codes stay sorted).
    remap = np.full(len(data.items), -1, dtype=np.int64)
    remap[frequent] = np.arange(len(frequent))
    source = data.matrix
    new_indices = remap[source.indices]
    keep = new_indices >= 0
    row_of = np.repeat(np.arange(n_baskets), np.diff(source.indptr))[keep]
    csr = sp.csr_matrix(
        (
            np.ones(int(keep.sum()), dtype=np.int32),
            new_indices[keep].astype(np.int32),
            np.r_[0, np.cumsum(np.bincount(row_of, minlength=n_baskets))],
        ),
        shape=(n_baskets, len(frequent)),
    )
    del new_indices, keep, row_of

    csc = csr.tocsc()
    csc.sort_indices()
    pairs = sp.triu(csc.T @ csr, k=1).tocoo()
    mask = pairs.data >= min_count
    level = np.column_stack([pairs.row[mask], pairs.col[mask]]).astype(np.int32)
    counts = pairs.data[mask].astype(np.int64)
    del pairs, mask
    level, counts = _lexsort_rows(level, counts)
    local: dict[int, tuple[np.ndarray, np.ndarray]] = {2: (level, counts)}

    columns = [csc.indices[csc.indptr[j] : csc.indptr[j + 1]] for j in range(csc.shape[1])]
    k = 2
    while len(local[k][0]) > k and (max_len is None or k < max_len):
        nxt = _next_level(local[k][0], csr, columns, min_count)
        if not len(nxt[0]):
            break
        k += 1
        local[k] = nxt
    for length, (rows, level_counts) in local.items():
        if len(rows):
            levels[length] = (frequent[rows].astype(np.int32), level_counts)
    return ItemsetLevels(n_baskets, data.items, levels)


def _item_tuples(codes: np.ndarray, items: np.ndarray) -> list[tuple[Any, ...]]:
    labels = items[codes]
    if labels.dtype.kind in "iub":
        labels = labels.astype(object)
    return [tuple(row) for row in labels.tolist()]


def _name_tuples(
    item_tuples: list[tuple[Any, ...]], item_names: Mapping[Hashable, str]
) -> list[tuple[str, ...]]:
    return [tuple(str(item_names.get(item, item)) for item in row) for row in item_tuples]


def itemsets_frame(
    result: ItemsetLevels, *, item_names: Mapping[Hashable, str] | None = None
) -> pd.DataFrame:
    """Frequent itemsets as a frame: ``itemsets`` (tuple of item ids), ``support``, ``count``."""
    itemsets: list[tuple[Any, ...]] = []
    counts: list[np.ndarray] = []
    for length in sorted(result.levels):
        rows, level_counts = result.levels[length]
        itemsets.extend(_item_tuples(rows, result.items))
        counts.append(level_counts)
    count = np.concatenate(counts) if counts else np.empty(0, dtype=np.int64)
    n = float(result.n_baskets) if result.n_baskets else 1.0
    frame = pd.DataFrame(
        {"itemsets": pd.Series(itemsets, dtype=object), "support": count / n, "count": count}
    )
    if item_names is not None:
        frame["itemset_names"] = pd.Series(_name_tuples(itemsets, item_names), dtype=object)
    return frame


def frequent_itemsets(
    baskets: Any,
    *,
    min_support: float,
    max_len: int | None = None,
    item_names: Mapping[Hashable, str] | None = None,
) -> pd.DataFrame:
    """Frequent itemsets with ``count / n_baskets >= min_support``, as mlxtend apriori/fpgrowth find them.

    Columns: ``itemsets`` (tuple of item ids, ascending), ``support``, ``count`` and, with
    ``item_names``, ``itemset_names``. Ordered by length, then itemset.
    """
    return itemsets_frame(
        mine_itemsets(baskets, min_support=min_support, max_len=max_len), item_names=item_names
    )


def _lookup(levels: dict[int, tuple[np.ndarray, np.ndarray]], query: np.ndarray) -> np.ndarray:
    """Basket counts of the itemsets in ``query`` (rows of sorted codes, all frequent)."""
    rows, counts = levels[query.shape[1]]
    keys = _void_keys(rows)
    pos = np.searchsorted(keys, _void_keys(query))
    pos[pos == len(keys)] = len(keys) - 1
    if not np.array_equal(keys[pos], _void_keys(query)):
        raise AssertionError("a subset of a frequent itemset is missing: the itemset levels are inconsistent")
    return counts[pos]


def rule_metrics(s_ac: np.ndarray, s_a: np.ndarray, s_c: np.ndarray) -> dict[str, np.ndarray]:
    """mlxtend 0.25's association-rule metrics from rule, antecedent and consequent supports."""
    with np.errstate(divide="ignore", invalid="ignore"):
        confidence = s_ac / s_a
        lift = confidence / s_c
        leverage = s_ac - s_a * s_c
        conviction = np.full(confidence.shape, np.inf)
        below = confidence < 1.0
        conviction[below] = (1.0 - s_c[below]) / (1.0 - confidence[below])
        denominator = np.maximum(s_ac * (1 - s_a), s_a * (s_c - s_ac))
        zhangs = np.where(denominator == 0, 0, leverage / denominator)
        jaccard = s_ac / (s_a + s_c - s_ac)
        certainty = np.where(1 - s_c == 0, 0, (confidence - s_c) / (1 - s_c))
        kulczynski = (s_ac / s_a + s_ac / s_c) / 2
    return {
        "support": s_ac,
        "confidence": confidence,
        "lift": lift,
        "representativity": np.ones(s_ac.shape),
        "leverage": leverage,
        "conviction": conviction,
        "zhangs_metric": zhangs.astype(float),
        "jaccard": jaccard,
        "certainty": certainty.astype(float),
        "kulczynski": kulczynski,
        "antecedent support": s_a,
        "consequent support": s_c,
    }


def empty_rules(*, with_names: bool = False) -> pd.DataFrame:
    """An empty rule frame with the rule columns (and name columns when asked)."""
    columns = [*RULE_COLUMNS, *(NAME_COLUMNS if with_names else ())]
    frame = pd.DataFrame(
        {
            c: pd.Series(dtype=object if c in ("antecedents", "consequents", *NAME_COLUMNS) else float)
            for c in columns
        }
    )
    return frame


def rules_from_itemsets(
    result: ItemsetLevels,
    *,
    min_confidence: float,
    single_consequent: bool = False,
    item_names: Mapping[Hashable, str] | None = None,
) -> pd.DataFrame:
    """All rules from the frequent itemsets with ``confidence >= min_confidence`` and their metrics.

    Rows are ordered by lift, then support (both descending), then itemset; ties keep a
    deterministic order.
    """
    min_confidence = _check_fraction("min_confidence", min_confidence, allow_zero=True)
    n = float(result.n_baskets)
    antecedents: list[np.ndarray] = []
    consequents: list[np.ndarray] = []
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for length in sorted(result.levels):
        if length < 2:
            continue
        rows, counts = result.levels[length]
        for mask in range(1, 2**length - 1):
            ante_cols = [j for j in range(length) if mask >> j & 1]
            cons_cols = [j for j in range(length) if not mask >> j & 1]
            if single_consequent and len(cons_cols) != 1:
                continue
            ante = rows[:, ante_cols]
            cons = rows[:, cons_cols]
            s_ac = counts / n
            s_a = _lookup(result.levels, ante) / n
            s_c = _lookup(result.levels, cons) / n
            keep = s_ac / s_a >= min_confidence
            if keep.any():
                antecedents.append(ante[keep])
                consequents.append(cons[keep])
                parts.append((s_ac[keep], s_a[keep], s_c[keep]))
    if not parts:
        return empty_rules(with_names=item_names is not None)
    s_ac = np.concatenate([p[0] for p in parts])
    s_a = np.concatenate([p[1] for p in parts])
    s_c = np.concatenate([p[2] for p in parts])
    metrics = rule_metrics(s_ac, s_a, s_c)
    ante_tuples = [t for block in antecedents for t in _item_tuples(block, result.items)]
    cons_tuples = [t for block in consequents for t in _item_tuples(block, result.items)]
    frame = pd.DataFrame(
        {
            "antecedents": pd.Series(ante_tuples, dtype=object),
            "consequents": pd.Series(cons_tuples, dtype=object),
            **metrics,
        }
    )
    if item_names is not None:
        frame["antecedent_names"] = pd.Series(_name_tuples(ante_tuples, item_names), dtype=object)
        frame["consequent_names"] = pd.Series(_name_tuples(cons_tuples, item_names), dtype=object)
    order = np.lexsort((np.arange(len(frame)), -metrics["support"], -metrics["lift"]))
    return frame.iloc[order].reset_index(drop=True)


def mine_rules(
    baskets: Any,
    *,
    min_support: float,
    min_confidence: float,
    max_len: int | None = None,
    single_consequent: bool = False,
    item_names: Mapping[Hashable, str] | None = None,
) -> pd.DataFrame:
    """Association rules over ``baskets`` with mlxtend's apriori + association_rules semantics.

    ``baskets`` is a long frame (``basket_id``, ``item``), a sparse basket x item matrix or an
    iterable of baskets (see :func:`basket_matrix`). Returns a pandas frame with
    :data:`RULE_COLUMNS` (antecedents and consequents as ascending tuples of item ids), plus
    ``antecedent_names`` and ``consequent_names`` when ``item_names`` is given. No frequent
    itemsets or no rules give an empty frame with the same columns.
    """
    _check_fraction("min_confidence", min_confidence, allow_zero=True)
    result = mine_itemsets(baskets, min_support=min_support, max_len=max_len)
    return rules_from_itemsets(
        result, min_confidence=min_confidence, single_consequent=single_consequent, item_names=item_names
    )
