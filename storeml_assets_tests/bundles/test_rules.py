"""The rule engine against mlxtend 0.25 (apriori, fpgrowth, association_rules) on random baskets."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from mlxtend.frequent_patterns import apriori, association_rules, fpgrowth

from storeml_assets.bundles.rules import (
    ITEMSET_COLUMNS,
    METRIC_COLUMNS,
    NAME_COLUMNS,
    RULE_COLUMNS,
    basket_matrix,
    frequent_itemsets,
    mine_rules,
)


def random_baskets(
    n_baskets: int, n_items: int, *, seed: int, bundles: int = 3, bundle_rate: float = 0.05
) -> np.ndarray:
    """Dense bool baskets: Zipf-like item popularity plus planted bundles; no empty basket."""
    rng = np.random.default_rng(seed)
    popularity = 0.4 / np.arange(1, n_items + 1) ** 0.8
    matrix = rng.random((n_baskets, n_items)) < popularity
    for _ in range(bundles):
        size = int(rng.integers(2, 5))
        members = rng.choice(n_items, size=size, replace=False)
        chosen = rng.random(n_baskets) < bundle_rate
        matrix[np.ix_(chosen, members)] = True
    empty = ~matrix.any(axis=1)
    matrix[empty, rng.integers(0, n_items, int(empty.sum()))] = True
    return matrix


def long_frame(matrix: np.ndarray, *, offset: int = 1000) -> pd.DataFrame:
    """Long format with item ids ``offset + column`` and shuffled, non-contiguous basket ids."""
    rows, cols = np.nonzero(matrix)
    frame = pd.DataFrame({"basket_id": rows * 7 + 3, "item": cols + offset})
    return frame.sample(frac=1.0, random_state=0).reset_index(drop=True)


def same(a: float, b: float) -> bool:
    """Equal within 1e-9, with inf == inf and nan == nan."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= 1e-9


def reference(
    matrix: np.ndarray, min_support: float, min_confidence: float, max_len: int | None, offset: int
):
    """mlxtend's itemsets (apriori and fpgrowth, checked equal) and rules, keyed by frozensets."""
    onehot = pd.DataFrame(matrix, columns=[offset + j for j in range(matrix.shape[1])])
    by_apriori = apriori(onehot, min_support=min_support, use_colnames=True, max_len=max_len)
    by_fpgrowth = fpgrowth(onehot, min_support=min_support, use_colnames=True, max_len=max_len)
    itemsets = dict(zip(by_apriori["itemsets"], by_apriori["support"], strict=True))
    assert itemsets == dict(zip(by_fpgrowth["itemsets"], by_fpgrowth["support"], strict=True))
    rules: dict[tuple[frozenset, frozenset], dict[str, float]] = {}
    if len(by_apriori):
        found = association_rules(by_apriori, metric="confidence", min_threshold=min_confidence)
        for row in found.to_dict("records"):
            rules[(row["antecedents"], row["consequents"])] = {m: row[m] for m in METRIC_COLUMNS}
    return itemsets, rules


def assert_matches_mlxtend(
    matrix: np.ndarray,
    min_support: float,
    min_confidence: float,
    max_len: int | None = None,
    offset: int = 1000,
) -> pd.DataFrame:
    want_itemsets, want_rules = reference(matrix, min_support, min_confidence, max_len, offset)
    baskets = long_frame(matrix, offset=offset)

    got_itemsets = frequent_itemsets(baskets, min_support=min_support, max_len=max_len)
    assert list(got_itemsets.columns) == list(ITEMSET_COLUMNS)
    assert all(tuple(sorted(s)) == s for s in got_itemsets["itemsets"])
    got = dict(zip(map(frozenset, got_itemsets["itemsets"]), got_itemsets["support"], strict=True))
    assert set(got) == set(want_itemsets)
    assert all(same(got[k], want_itemsets[k]) for k in got)

    rules = mine_rules(baskets, min_support=min_support, min_confidence=min_confidence, max_len=max_len)
    assert list(rules.columns) == list(RULE_COLUMNS)
    keys = [
        (frozenset(a), frozenset(c)) for a, c in zip(rules["antecedents"], rules["consequents"], strict=True)
    ]
    assert len(keys) == len(set(keys))
    assert set(keys) == set(want_rules)
    for key, row in zip(keys, rules.to_dict("records"), strict=True):
        for metric in METRIC_COLUMNS:
            assert same(row[metric], want_rules[key][metric]), (
                key,
                metric,
                row[metric],
                want_rules[key][metric],
            )
    return rules


@pytest.mark.parametrize(
    ("n_baskets", "n_items", "seed", "min_support", "min_confidence"),
    [
        (200, 8, 1, 0.05, 0.2),
        (1_000, 15, 2, 0.02, 0.5),
        (5_000, 30, 3, 0.01, 0.3),
        (20_000, 40, 4, 0.005, 0.6),
        (3_000, 20, 5, 0.03, 0.0),
    ],
)
def test_matches_mlxtend_on_planted_bundles(
    n_baskets: int, n_items: int, seed: int, min_support: float, min_confidence: float
) -> None:
    matrix = random_baskets(n_baskets, n_items, seed=seed)
    rules = assert_matches_mlxtend(matrix, min_support, min_confidence)
    assert len(rules) > 0
    sizes = rules["antecedents"].map(len) + rules["consequents"].map(len)
    assert (sizes >= 3).any(), "expect rules from itemsets of three or more items"


def test_matches_mlxtend_on_100k_baskets() -> None:
    matrix = random_baskets(100_000, 50, seed=7, bundles=4, bundle_rate=0.02)
    rules = assert_matches_mlxtend(matrix, 0.01, 0.1)
    assert len(rules) > 50
    assert (rules["consequents"].map(len) > 1).any() and (rules["antecedents"].map(len) > 1).any()


def test_support_exactly_at_threshold_is_frequent() -> None:
    # {1, 2} and {1, 3} are in 3 of 10 baskets: support 0.3 passes min_support 0.3 (mlxtend's float test).
    matrix = np.zeros((10, 3), dtype=bool)
    matrix[:3, [0, 1]] = True
    matrix[3:, 2] = True
    matrix[3:6, 0] = True
    rules = assert_matches_mlxtend(matrix, 0.3, 0.5, offset=1)
    assert {(r.antecedents, r.consequents) for r in rules.itertuples()} == {
        ((2,), (1,)),
        ((1,), (2,)),
        ((1,), (3,)),
    }
    assert assert_matches_mlxtend(matrix, 0.30000001, 0.5, offset=1).empty


def test_count_over_baskets_decides_not_a_rounded_count() -> None:
    # 0.07 * 100 is 7.000000000000001 in float64, yet 7 / 100 >= 0.07: apriori keeps count-7 itemsets.
    matrix = np.zeros((100, 3), dtype=bool)
    matrix[:7, [0, 1]] = True
    matrix[7:20, 2] = True
    itemsets = frequent_itemsets(long_frame(matrix, offset=0), min_support=0.07)
    want = apriori(pd.DataFrame(matrix), min_support=0.07)
    assert set(map(frozenset, itemsets["itemsets"])) == set(want["itemsets"])
    assert (0, 1) in set(itemsets["itemsets"])


@pytest.mark.parametrize("max_len", [1, 2, 3])
def test_max_len(max_len: int) -> None:
    matrix = random_baskets(4_000, 20, seed=11, bundles=3, bundle_rate=0.1)
    assert_matches_mlxtend(matrix, 0.02, 0.2, max_len=max_len)
    itemsets = frequent_itemsets(long_frame(matrix), min_support=0.02, max_len=max_len)
    assert itemsets["itemsets"].map(len).max() == max_len


def test_single_consequent_keeps_the_one_item_consequent_rules() -> None:
    matrix = random_baskets(3_000, 15, seed=12, bundles=3, bundle_rate=0.1)
    baskets = long_frame(matrix)
    every = mine_rules(baskets, min_support=0.02, min_confidence=0.2)
    single = mine_rules(baskets, min_support=0.02, min_confidence=0.2, single_consequent=True)
    assert (every["consequents"].map(len) > 1).any()
    assert (single["consequents"].map(len) == 1).all()
    expected = every[every["consequents"].map(len) == 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(single, expected)


def test_no_frequent_itemsets_gives_empty_frames_with_columns() -> None:
    baskets = pd.DataFrame({"basket_id": [1, 2, 3], "item": ["a", "b", "c"]})
    rules = mine_rules(baskets, min_support=0.5, min_confidence=0.1)
    assert rules.empty and list(rules.columns) == list(RULE_COLUMNS)
    itemsets = frequent_itemsets(baskets, min_support=0.5)
    assert itemsets.empty and list(itemsets.columns) == list(ITEMSET_COLUMNS)
    named = mine_rules(baskets, min_support=0.5, min_confidence=0.1, item_names={"a": "A"})
    assert named.empty and list(named.columns) == [*RULE_COLUMNS, *NAME_COLUMNS]
    # frequent single items but no pair: no rules either
    assert mine_rules(baskets, min_support=0.3, min_confidence=0.1).empty


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # mlxtend divides by 1 - 1 in certainty
def test_single_basket() -> None:
    baskets = pd.DataFrame({"basket_id": [9, 9, 9], "item": ["x", "y", "z"]})
    rules = mine_rules(baskets, min_support=1.0, min_confidence=1.0)
    assert len(rules) == 12  # every split of {x, y, z} and of its three pairs
    assert (rules["support"] == 1.0).all() and (rules["lift"] == 1.0).all()
    assert np.isinf(rules["conviction"]).all()
    assert (rules["zhangs_metric"] == 0).all() and (rules["certainty"] == 0).all()
    assert_matches_mlxtend(np.ones((1, 3), dtype=bool), 1.0, 1.0)


def test_duplicate_items_in_a_basket_count_once() -> None:
    baskets = pd.DataFrame({"basket_id": [1, 1, 1, 1, 2, 2, 3], "item": ["a", "a", "b", "b", "a", "c", "c"]})
    itemsets = frequent_itemsets(baskets, min_support=0.3)
    counts = dict(zip(itemsets["itemsets"], itemsets["count"], strict=True))
    assert counts == {("a",): 2, ("b",): 1, ("c",): 2, ("a", "b"): 1, ("a", "c"): 1}
    rules = mine_rules(baskets, min_support=0.3, min_confidence=0.9)
    assert {(r.antecedents, r.consequents) for r in rules.itertuples()} == {(("b",), ("a",))}
    assert rules["confidence"].iloc[0] == 1.0 and rules["lift"].iloc[0] == pytest.approx(1.5)


def test_inputs_other_than_a_long_frame_and_item_names() -> None:
    matrix = random_baskets(500, 10, seed=13, bundles=2, bundle_rate=0.2)
    by_frame = mine_rules(long_frame(matrix, offset=0), min_support=0.05, min_confidence=0.3)
    by_sparse = mine_rules(sp.csr_matrix(matrix), min_support=0.05, min_confidence=0.3)
    by_lists = mine_rules([list(np.flatnonzero(row)) for row in matrix], min_support=0.05, min_confidence=0.3)
    pd.testing.assert_frame_equal(by_frame, by_sparse)
    pd.testing.assert_frame_equal(by_frame, by_lists)
    names = {j: f"product {j}" for j in range(10)}
    named = mine_rules(sp.csr_matrix(matrix), min_support=0.05, min_confidence=0.3, item_names=names)
    assert list(named.columns) == [*RULE_COLUMNS, *NAME_COLUMNS]
    for row in named.itertuples():
        assert row.antecedent_names == tuple(names[i] for i in row.antecedents)
        assert row.consequent_names == tuple(names[i] for i in row.consequents)
    assert basket_matrix(sp.csr_matrix(matrix)).n_baskets == 500


def test_rules_are_ordered_by_lift() -> None:
    matrix = random_baskets(2_000, 12, seed=14)
    rules = mine_rules(long_frame(matrix), min_support=0.02, min_confidence=0.1)
    assert rules["lift"].is_monotonic_decreasing


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_support": 0.0, "min_confidence": 0.5}, "min_support"),
        ({"min_support": 1.5, "min_confidence": 0.5}, "min_support"),
        ({"min_support": 0.1, "min_confidence": -0.1}, "min_confidence"),
        ({"min_support": 0.1, "min_confidence": 1.1}, "min_confidence"),
        ({"min_support": 0.1, "min_confidence": 0.5, "max_len": 0}, "max_len"),
    ],
)
def test_bad_parameters_are_named(kwargs: dict, message: str) -> None:
    baskets = pd.DataFrame({"basket_id": [1, 1], "item": ["a", "b"]})
    with pytest.raises(ValueError, match=message):
        mine_rules(baskets, **kwargs)


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match="basket_id"):
        mine_rules(pd.DataFrame({"order_id": [1], "item": ["a"]}), min_support=0.1, min_confidence=0.1)


@pytest.mark.parametrize("seed", [21, 22])
def test_matches_mlxtend_on_dense_baskets_with_long_itemsets(seed: int) -> None:
    rng = np.random.default_rng(seed)
    matrix = rng.random((1_500, 14)) < rng.uniform(0.2, 0.6, 14)
    matrix[~matrix.any(axis=1), 0] = True
    rules = assert_matches_mlxtend(matrix, 0.04, 0.4)
    longest = (rules["antecedents"].map(len) + rules["consequents"].map(len)).max()
    assert longest >= 5


def test_polars_input_and_null_rows() -> None:
    import polars as pl

    frame = pd.DataFrame(
        {"basket_id": [1, 1, 2, 2, 3, 3, None], "item": ["a", "b", "a", "b", "a", None, "b"]}
    )
    by_pandas = mine_rules(frame, min_support=0.5, min_confidence=0.5)
    by_polars = mine_rules(pl.from_pandas(frame), min_support=0.5, min_confidence=0.5)
    pd.testing.assert_frame_equal(by_pandas, by_polars)
    # the null rows are dropped: 3 baskets, {a, b} in 2 of them
    assert by_pandas.set_index(["antecedents", "consequents"])["support"].to_dict() == {
        (("a",), ("b",)): 2 / 3,
        (("b",), ("a",)): 2 / 3,
    }
