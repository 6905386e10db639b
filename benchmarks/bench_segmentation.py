"""Customer-segmentation benchmark: the family against the RFM-quintile grid, in one run.

    python -m benchmarks.bench_segmentation [--scale small|large] [--seed 42]

The parent simulates the storefront once, builds the customer features at the end of the history (as the
``features/customer_features`` asset does) and saves them with the users, the orders' ids and the planted
personas; each method then runs in its own subprocess, so each one's peak RSS is its own. ``storeml``
prepares the split and fits the segmentation (lifecycle rules, k-means for k in 3..6 chosen by silhouette:
timed as ``train``), then evaluates it (silhouette, persona ARI, three bootstrap refits for the stability)
and scores every customer for ``features.customer_segments`` (``score``). ``rfm_quintile`` prepares the
same split and scores the RFM grid (its ``train`` is the quintile scoring of the training customers).
Targets: train <= 30 s at ``small``, <= 5 min at ``large``, peak <= 4 GB. The last line is ``JSON: {...}``.
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

METHODS = ("storeml", "rfm_quintile")
TABLES = ("customer_features", "users", "orders", "customer_personas")
REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_TRAIN_SECONDS = {"small": 30.0, "large": 300.0}
TARGET_PEAK_MB = 4096.0


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: a forked child's ``ru_maxrss`` starts at its parent's, so a
    child of a parent that simulated ``large`` would report the parent's 3 GB)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(method: str, folder: Path) -> None:
    """Prepare, fit and score one method on the saved frames; print a JSON line of its figures."""
    import polars as pl

    from storeml_assets.segmentation import family as sf
    from storeml_assets.segmentation import metrics as sg

    frames = {name: pl.read_parquet(folder / f"{name}.parquet") for name in TABLES}
    start = time.perf_counter()
    prepared = sf.prepare(frames, 0)
    prepare_s = time.perf_counter() - start
    figures: dict[str, object]
    if method == "storeml":
        start = time.perf_counter()
        model = sf.fit(prepared, 0)
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        evaluation = sf.evaluate(model, prepared)
        output = sf.output(model, frames, "bench")
        score_s = time.perf_counter() - start
        figures = {**evaluation.metrics, "segments": model.segments, "output_rows": output.height,
                   "oracle_silhouette": (evaluation.oracle or {}).get("silhouette", float("nan"))}
    else:
        start = time.perf_counter()
        sg.rfm_quintile_segments(prepared.train.to_pandas())
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        holdout = prepared.holdout.to_pandas()
        labels = sg.rfm_quintile_segments(holdout)
        figures = {**sg.segment_figures(sg.evaluation_space(holdout), labels,
                                        holdout["persona"].astype(str).to_numpy())}
        score_s = time.perf_counter() - start
    print(json.dumps({"prepare_s": prepare_s, "train_s": train_s, "score_s": score_s,
                      "peak_rss_mb": peak_rss_mb(),
                      "customers": prepared.train.height + prepared.holdout.height, **figures}))


def _child(args: list[str]) -> dict[str, object]:
    child = subprocess.run([sys.executable, "-m", "benchmarks.bench_segmentation", *args], cwd=REPO_ROOT,
                           capture_output=True, text=True)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{child.stderr[-4000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def _simulate(scale: str, seed: int, folder: Path) -> None:
    """Simulate, build the customer features at the end of the history, save the family's tables."""
    from storeml_assets.features.customer import RAW_COLUMNS, build_customer_features
    from storeml_assets.features.training import history_end
    from storeml_assets.synthetic.simulator import SimulationConfig, simulate

    start = time.perf_counter()
    data = simulate(SimulationConfig(seed=seed, scale=scale))
    raw = {name: data.table(name) for name in RAW_COLUMNS if name != "order_items"}
    raw["order_items"] = data.table("order_items").join(data.table("orders").select("order_id", "ordered_at"),
                                                        on="order_id", how="left")
    simulated_s = time.perf_counter() - start
    start = time.perf_counter()
    features = build_customer_features(raw, history_end(raw["orders"]))
    features_s = time.perf_counter() - start
    features.write_parquet(folder / "customer_features.parquet")
    data.table("users").select("user_id").write_parquet(folder / "users.parquet")
    data.table("orders").select("order_id").write_parquet(folder / "orders.parquet")
    data.ground_truth["customer_personas"].write_parquet(folder / "customer_personas.parquet")
    print(f"simulated {scale}: {features.height:,} customers, {data.table('orders').height:,} orders in "
          f"{simulated_s:.1f} s; customer features in {features_s:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="small", choices=("tiny", "small", "medium", "large"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.folder)
        return

    with tempfile.TemporaryDirectory(prefix="bench-segmentation-") as tmp:
        folder = Path(tmp)
        _simulate(args.scale, args.seed, folder)
        results = {method: _child(["--child", method, "--folder", str(folder)]) for method in METHODS}

    print(f"\n{'method':<14}{'train s':>9}{'score s':>9}{'peak MB':>9}{'persona ARI':>12}{'silhouette':>11}"
          f"{'smallest':>10}{'segments':>9}")
    for method, r in results.items():
        print(f"{method:<14}{r['train_s']:>9.2f}{r['score_s']:>9.2f}{r['peak_rss_mb']:>9.0f}{r['persona_ari']:>12.4f}"
              f"{r['silhouette']:>11.4f}{r['smallest_segment_share']:>10.3f}{r['n_segments']:>9.0f}")
    ours, grid = results["storeml"], results["rfm_quintile"]
    print(f"{'oracle':<14}{'':>27}{1.0:>12.4f}{ours['oracle_silhouette']:>11.4f}")
    ratios = {
        "train_vs_rfm": float(ours["train_s"]) / max(float(grid["train_s"]), 1e-9),  # type: ignore[arg-type]
        "peak_vs_rfm": float(ours["peak_rss_mb"]) / max(float(grid["peak_rss_mb"]), 1e-9),  # type: ignore[arg-type]
        "persona_ari_vs_rfm": float(ours["persona_ari"]) / float(grid["persona_ari"]),  # type: ignore[arg-type]
        "persona_ari_vs_oracle": float(ours["persona_ari"]),  # type: ignore[arg-type]
    }
    print(f"\ntrain {ratios['train_vs_rfm']:.0f}x the RFM grid's time, peak {ratios['peak_vs_rfm']:.2f}x its memory; "
          f"persona ARI {ratios['persona_ari_vs_rfm']:.2f}x the grid's, {ratios['persona_ari_vs_oracle']:.2f}x the "
          f"oracle's (the planted personas, 1.0); stability {ours['stability']:.3f}")
    target = TARGET_TRAIN_SECONDS.get(args.scale)
    if target is not None:
        ok = float(ours["train_s"]) <= target and float(ours["peak_rss_mb"]) <= TARGET_PEAK_MB  # type: ignore[arg-type]
        print(f"targets ({args.scale}): train <= {target:.0f} s, peak <= {TARGET_PEAK_MB:.0f} MB: "
              f"{'met' if ok else 'NOT met'}")
    print("JSON: " + json.dumps({"scale": args.scale, "seed": args.seed, "methods": results, "ratios": ratios}))


if __name__ == "__main__":
    main()
