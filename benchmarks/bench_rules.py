"""Rule-mining benchmark: storeml's engine against one-hot + mlxtend fpgrowth / apriori, in one run.

    python -m benchmarks.bench_rules [--baskets 1000000 --items 5000 --min-support 0.0005] [--skip-apriori]

The parent generates seeded baskets (Zipf item popularity plus planted bundles) once, then runs
each method in its own subprocess so that each one's peak RSS is its own. It prints wall time,
peak memory and ratios, and checks that every method found the same rules (metrics within 1e-9).
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

METHODS = ("storeml", "mlxtend-fpgrowth", "mlxtend-apriori")
REPO_ROOT = Path(__file__).resolve().parent.parent


def generate_baskets(
    n_baskets: int,
    n_items: int,
    *,
    seed: int = 42,
    zipf: float = 2.2,
    tail_share: float = 0.2,
    mean_size: float = 3.0,
    bundles: int = 5,
    bundle_rate: float = 0.002,
) -> tuple[pd.DataFrame, list[tuple[int, ...]]]:
    """Long baskets (basket_id, item) with Zipf popularity and ``bundles`` planted product sets.

    A share ``tail_share`` of the lines picks a product uniformly (the catalog's long tail, so every
    product is bought); the rest follow a Zipf law with exponent ``zipf``.
    """
    rng = np.random.default_rng(seed)
    sizes = 1 + rng.poisson(mean_size - 1, n_baskets)
    weights = 1.0 / np.arange(1, n_items + 1) ** zipf
    weights = (1 - tail_share) * weights / weights.sum() + tail_share / n_items
    popularity = rng.permutation(n_items)  # product id of each popularity rank
    ranks = rng.choice(n_items, size=int(sizes.sum()), p=weights / weights.sum())
    basket_ids = [np.repeat(np.arange(n_baskets, dtype=np.int64), sizes)]
    items = [popularity[ranks] + 1]
    planted: list[tuple[int, ...]] = []
    tail = popularity[100 : min(n_items, 2000)]  # products rarely bought on their own
    for b in range(bundles):
        members = rng.choice(tail, size=2 + b % 3, replace=False) + 1
        chosen = rng.choice(n_baskets, size=max(1, int(bundle_rate * n_baskets)), replace=False)
        basket_ids.append(np.repeat(chosen, len(members)))
        items.append(np.tile(members, len(chosen)))
        planted.append(tuple(sorted(int(m) for m in members)))
    frame = pd.DataFrame({"basket_id": np.concatenate(basket_ids), "item": np.concatenate(items)})
    return frame, planted


def canonical(rules: pd.DataFrame) -> pd.DataFrame:
    """Rules with sorted-tuple antecedents/consequents and the metric columns, for comparison."""
    from storeml_assets.bundles.rules import METRIC_COLUMNS

    out = pd.DataFrame(
        {
            "antecedents": [tuple(sorted(a)) for a in rules["antecedents"]],
            "consequents": [tuple(sorted(c)) for c in rules["consequents"]],
        }
    )
    for metric in METRIC_COLUMNS:
        out[metric] = rules[metric].to_numpy(dtype=float)
    return out


def run_child(
    method: str, data: Path, out: Path, min_support: float, min_confidence: float, max_len: int | None
) -> None:
    """Run one method on the saved baskets; print a JSON line with time and own peak RSS."""
    loaded = np.load(data)
    baskets = pd.DataFrame({"basket_id": loaded["basket_id"], "item": loaded["item"]})
    del loaded
    # imports happen before the clock starts, for every method alike
    from mlxtend.frequent_patterns import apriori, association_rules, fpgrowth

    from storeml_assets.bundles.rules import mine_rules

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    if method == "storeml":
        rules = mine_rules(baskets, min_support=min_support, min_confidence=min_confidence, max_len=max_len)
        n_itemsets = -1
    else:
        basket_codes, _ = pd.factorize(baskets["basket_id"])
        item_codes, item_labels = pd.factorize(baskets["item"], sort=True)
        onehot = np.zeros((int(basket_codes.max()) + 1, len(item_labels)), dtype=bool)
        onehot[basket_codes, item_codes] = True
        frame = pd.DataFrame(onehot, columns=item_labels.tolist(), copy=False)
        del baskets, basket_codes, item_codes
        miner = fpgrowth if method == "mlxtend-fpgrowth" else apriori
        itemsets = miner(frame, min_support=min_support, use_colnames=True, max_len=max_len)
        n_itemsets = len(itemsets)
        if len(itemsets):
            rules = association_rules(itemsets, metric="confidence", min_threshold=min_confidence)
        else:
            rules = pd.DataFrame(columns=["antecedents", "consequents"])
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with out.open("wb") as handle:
        pickle.dump(canonical(rules), handle)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss_mb": peak,
                "rss_after_load_mb": rss_before,
                "rules": len(rules),
                "itemsets": n_itemsets,
            }
        )
    )


def same_rules(a: pd.DataFrame, b: pd.DataFrame) -> tuple[bool, str]:
    """Same rule keys and every metric within 1e-9 (inf == inf, nan == nan)."""
    left = a.set_index(["antecedents", "consequents"]).sort_index()
    right = b.set_index(["antecedents", "consequents"]).sort_index()
    if not left.index.equals(right.index):
        only_left = len(left.index.difference(right.index))
        only_right = len(right.index.difference(left.index))
        return False, f"rule sets differ: {only_left} only in first, {only_right} only in second"
    x = left.to_numpy(dtype=float)
    y = right[left.columns].to_numpy(dtype=float)
    both_nan = np.isnan(x) & np.isnan(y)
    with np.errstate(invalid="ignore"):
        close = (x == y) | (np.abs(x - y) <= 1e-9) | both_nan
    if not close.all():
        return False, f"{int((~close).sum())} metric values differ by more than 1e-9"
    return True, f"{len(left)} rules, all metrics within 1e-9"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baskets", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--min-support", type=float, default=0.0005)
    parser.add_argument("--min-confidence", type=float, default=0.1)
    parser.add_argument("--max-len", type=int, default=None)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-apriori", action="store_true", help="skip one-hot + apriori (needs ~8 GB)")
    parser.add_argument("--skip-mlxtend", action="store_true", help="run the storeml engine only")
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.data, args.out, args.min_support, args.min_confidence, args.max_len)
        return

    start = time.perf_counter()
    baskets, planted = generate_baskets(args.baskets, args.items, seed=args.seed)
    print(
        f"generated {args.baskets:,} baskets, {args.items:,} products, {len(baskets):,} lines "
        f"({len(planted)} planted bundles) in {time.perf_counter() - start:.1f} s; "
        f"min_support={args.min_support} min_confidence={args.min_confidence} max_len={args.max_len}"
    )
    methods = ["storeml"]
    if not args.skip_mlxtend:
        methods.append("mlxtend-fpgrowth")
        if not args.skip_apriori:
            methods.append("mlxtend-apriori")
    results: dict[str, dict] = {}
    rules: dict[str, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory(prefix="bench_rules_") as tmp:
        data = Path(tmp) / "baskets.npz"
        np.savez(data, basket_id=baskets["basket_id"].to_numpy(), item=baskets["item"].to_numpy())
        del baskets
        for method in methods:
            out = Path(tmp) / f"{method}.pkl"
            command = [
                sys.executable, "-m", "benchmarks.bench_rules", "--child", method,
                "--data", str(data), "--out", str(out),
                "--min-support", repr(args.min_support), "--min-confidence", repr(args.min_confidence),
            ]  # fmt: skip
            if args.max_len is not None:
                command += ["--max-len", str(args.max_len)]
            done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(f"{method}: failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
                continue
            results[method] = json.loads(done.stdout.strip().splitlines()[-1])
            with out.open("rb") as handle:
                rules[method] = pickle.load(handle)
            r = results[method]
            print(
                f"{method:>17}: {r['seconds']:8.2f} s  peak RSS {r['peak_rss_mb']:8.0f} MB "
                f"(after loading input {r['rss_after_load_mb']:.0f} MB)  {r['rules']:,} rules"
            )
    if "storeml" in results:
        base = results["storeml"]
        for method in methods[1:]:
            if method in results:
                other = results[method]
                print(
                    f"storeml vs {method}: {other['seconds'] / base['seconds']:.1f}x faster, "
                    f"{other['peak_rss_mb'] / base['peak_rss_mb']:.1f}x less peak memory"
                )
                ok, detail = same_rules(rules["storeml"], rules[method])
                print(f"  same rules as {method}: {'yes' if ok else 'NO'} ({detail})")
        found = {
            a + c
            for a, c in zip(rules["storeml"]["antecedents"], rules["storeml"]["consequents"], strict=True)
        }
        hits = sum(any(set(b) <= set(s) for s in found) for b in planted)
        print(f"planted bundles covered by a rule: {hits}/{len(planted)}")


if __name__ == "__main__":
    main()
