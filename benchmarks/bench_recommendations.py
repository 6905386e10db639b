"""Recommendations benchmark: the family's model (implicit ALS) against the other ``implicit`` candidates and
the two popularity baselines, in one run.

    python -m benchmarks.bench_recommendations [--scale small|large] [--seed 7] [--methods als,item_bm25,...]

A subprocess simulates the storefront once and saves the tables the family reads; each method then runs in
its own subprocess, so each one's peak RSS is its own (Linux carries a process's peak RSS across fork and exec,
so the parent stays small: it never holds the simulation). The parent also reports ``RUSAGE_CHILDREN``. Every child
prepares the data the family's way (events, weights and the 14-day time split; timed as ``prepare``), fits
(``train``: counting purchases for a baseline), ranks 10 products for every scored customer (``score``) and
computes NDCG@10; the family's model also writes the output table's rows for every active customer
(``output``). Targets: training and scoring <= 60 s at ``small`` and <= 5 min at ``large`` with a peak of
<= 4 GB. The last line is ``JSON: {...}``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METHODS = ("als", "item_bm25", "item_cosine", "bpr", "popularity", "recent_popularity")
#: BPR's 100 epochs are slow at ``large``; it runs there only when asked for.
DEFAULT_METHODS = {"small": METHODS, "large": ("als", "item_bm25", "popularity", "recent_popularity")}
TABLES = ("user_interactions", "orders", "order_items", "products", "customer_taste", "product_appeal")
REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = {"small": 60.0, "large": 300.0}
TARGET_PEAK_MB = 4096.0


def run_child(method: str, folder: Path) -> None:
    """Prepare, fit and score one method on the saved frames; print a JSON line of its figures."""
    from datetime import timedelta

    import numpy as np
    import polars as pl

    from storeml_assets.recommendations import data, evaluation, family, model

    frames = {name: pl.read_parquet(folder / f"{name}.parquet") for name in TABLES}
    start = time.perf_counter()
    prepared = data.prepare(frames, 0)
    prepare_s = time.perf_counter() - start
    relevant_by = prepared.holdout.group_by("customer_id").agg(pl.col("product_id")).sort("customer_id")
    relevant = [set(ids) for ids in relevant_by.get_column("product_id").to_list()]
    customers = relevant_by.get_column("customer_id").to_numpy()
    output_s = None
    start = time.perf_counter()
    if method in model.ALGORITHMS:
        recommender = model.fit(prepared, 0, method)
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        rows = np.array([recommender._row[int(c)] for c in customers], dtype=np.int64)
        cols, _ = recommender.recommend_rows(recommender.history.values[rows], recommender.bought[rows],
                                             evaluation.K, rows=rows)
        score_s = time.perf_counter() - start
        product_ids = recommender.product_ids
        if method == model.ALGORITHM:
            start = time.perf_counter()
            out = family.output(recommender, frames, "bench")
            output_s = time.perf_counter() - start
            output_rows = out.height
    else:
        product_ids = prepared.extra["products"].get_column("product_id").to_numpy()
        purchases = prepared.train.filter(pl.col("interaction_type") == "purchase")
        if method == "recent_popularity":
            purchases = purchases.filter(
                pl.col("occurred_at") >= prepared.extra["cutoff"] - timedelta(days=data.HOLDOUT_DAYS))
        counts = evaluation.purchase_counts(purchases, product_ids)
        bought = model.interaction_matrix(prepared.extra["bought"], product_ids, column="none")
        inactive = np.nonzero(~prepared.extra["products"].get_column("is_active").to_numpy())[0]
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        rows = np.searchsorted(bought.customer_ids, customers)
        cols = evaluation.rank_by(lambda part: np.broadcast_to(counts, (len(part), len(counts))), bought.values,
                                  rows, inactive)
        score_s = time.perf_counter() - start
    figures = evaluation.ranking_metrics(product_ids[cols], relevant, len(product_ids))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "prepare_s": prepare_s, "train_s": train_s, "score_s": score_s, "output_s": output_s,
        "output_rows": output_rows if output_s is not None else None, "peak_rss_mb": peak,
        "ndcg_at_10": figures["ndcg_at_10"], "coverage": figures["coverage"], "scored_customers": len(customers),
        "training_events": prepared.training_rows,
    }))


def simulate_tables(scale: str, seed: int, folder: Path) -> dict[str, int]:
    from storeml_assets.synthetic.simulator import SimulationConfig, simulate

    data = simulate(SimulationConfig(scale=scale, seed=seed))
    for name in TABLES:
        data.table(name).write_parquet(folder / f"{name}.parquet")
    return {name: data.table(name).height for name in TABLES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=("tiny", "small", "medium", "large"), default="small")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--methods", default=None, help=f"comma-separated subset of {', '.join(METHODS)}")
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--simulate-into", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.data)
        return
    if args.simulate_into:
        print(json.dumps(simulate_tables(args.scale, args.seed, args.simulate_into)))
        return
    methods = args.methods.split(",") if args.methods else list(DEFAULT_METHODS.get(args.scale, METHODS))
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench_recommendations_") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        command = [sys.executable, "-m", "benchmarks.bench_recommendations", "--scale", args.scale,
                   "--seed", str(args.seed), "--simulate-into", str(folder)]
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"simulation failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-3:]}")
        rows = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"simulated {args.scale} (seed {args.seed}) in {time.perf_counter() - start:.1f} s: "
              + ", ".join(f"{name} {n:,}" for name, n in rows.items()))
        for method in methods:
            command = [sys.executable, "-m", "benchmarks.bench_recommendations", "--child", method, "--data", str(folder)]
            done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(f"{method}: failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-3:]}")
                continue
            results[method] = json.loads(done.stdout.strip().splitlines()[-1])
            r = results[method]
            output = f"  output {r['output_s']:6.2f} s ({r['output_rows']:,} rows)" if r["output_s"] is not None else ""
            print(f"{method:>18}: prepare {r['prepare_s']:6.2f} s  train {r['train_s']:7.2f} s  "
                  f"score {r['score_s']:6.2f} s{output}  peak {r['peak_rss_mb']:7.0f} MB  "
                  f"ndcg@10 {r['ndcg_at_10']:.4f}  coverage {r['coverage']:.3f}")
    children_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the simulation included
    summary: dict[str, object] = {"scale": args.scale, "seed": args.seed, "methods": results,
                                  "children_peak_rss_mb": children_peak}
    if "als" in results:
        family = results["als"]
        total = family["prepare_s"] + family["train_s"] + family["score_s"] + (family["output_s"] or 0.0)
        summary["family_seconds"] = total
        target = TARGET_SECONDS.get(args.scale)
        print(f"family (als): prepare + train + score + output {total:.1f} s"
              + (f" (target <= {target:.0f} s: {'met' if total <= target else 'MISSED'})" if target else "")
              + f"; peak {family['peak_rss_mb']:.0f} MB (target <= {TARGET_PEAK_MB:.0f} MB: "
              f"{'met' if family['peak_rss_mb'] <= TARGET_PEAK_MB else 'MISSED'})")
        for base in ("popularity", "recent_popularity", "item_bm25", "bpr"):
            if base in results:
                other = results[base]
                ratio_time = (family["train_s"] + family["score_s"]) / max(other["train_s"] + other["score_s"], 1e-9)
                ratio_ndcg = family["ndcg_at_10"] / other["ndcg_at_10"] if other["ndcg_at_10"] else float("nan")
                summary[f"ndcg_vs_{base}"] = ratio_ndcg
                summary[f"time_vs_{base}"] = ratio_time
                print(f"  als vs {base}: ndcg@10 x{ratio_ndcg:.2f}, train+score time x{ratio_time:.1f}, "
                      f"peak memory x{family['peak_rss_mb'] / other['peak_rss_mb']:.2f}")
    print(f"peak RSS of any child, the simulation included (RUSAGE_CHILDREN): {children_peak:.0f} MB")
    print("JSON: " + json.dumps(summary))


if __name__ == "__main__":
    main()
