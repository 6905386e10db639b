"""Review-sentiment benchmark: the family's model against its two baselines, in one run.

    python -m benchmarks.bench_sentiment [--scale small|large] [--seed 7]

A child simulates the storefront once and saves its reviews (with products, categories and the
planted truth); each method then runs in its own subprocess, so each one's peak RSS is its own
(the parent stays small: a child forked from a big parent inherits the parent's peak).
Every child prepares the data the family's way (time split, newest 20% held out; timed as
``prepare``), then fits and scores the holdout. Targets: the family trains in <= 30 s at ``small``
and <= 5 min at ``large`` with a peak of <= 4 GB. The last line is ``JSON: {...}``.
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
from typing import Any

import numpy as np

METHODS = ("storeml", "unigram_logreg", "majority")
TABLES = ("reviews", "products", "categories", "review_sentiment")
REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_TRAIN_SECONDS = {"small": 30.0, "large": 300.0}
TARGET_PEAK_MB = 4096.0


def run_child(method: str, folder: Path) -> None:
    """Prepare, fit and score one method on the saved frames; print a JSON line of its figures."""
    import polars as pl

    from storeml_assets.sentiment import family as sf
    from storeml_assets.sentiment import metrics as sm

    frames = {name: pl.read_parquet(folder / f"{name}.parquet") for name in TABLES}
    start = time.perf_counter()
    prepared = sf.prepare(frames, 0)
    prepare_s = time.perf_counter() - start
    train_texts, holdout_texts = prepared.train["text"].to_list(), prepared.holdout["text"].to_list()
    y_train, y_holdout = prepared.train["label"].to_numpy(), prepared.holdout["label"].to_numpy()
    start = time.perf_counter()
    if method == "storeml":
        model = sf.fit(prepared, 0)
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        proba = model.predict_proba_texts(holdout_texts)
        predicted = model.decide(proba)
    elif method == "unigram_logreg":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        vectorizer = TfidfVectorizer()
        baseline = LogisticRegression().fit(vectorizer.fit_transform(train_texts), y_train)
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        features = vectorizer.transform(holdout_texts)
        proba, predicted = baseline.predict_proba(features), baseline.predict(features)
    else:
        share = np.bincount(y_train, minlength=3) / len(y_train)
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        proba, predicted = np.tile(share, (len(y_holdout), 1)), np.full(len(y_holdout), int(np.argmax(share)))
    score_s = time.perf_counter() - start
    metrics = sm.classification_metrics(y_holdout, predicted, proba)
    oracle = _oracle(prepared.holdout) if method == "storeml" else None
    print(json.dumps({
        "prepare_s": prepare_s, "train_s": train_s, "score_s": score_s,
        "score_per_1k_s": score_s / max(len(y_holdout), 1) * 1000,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "macro_f1": metrics["macro_f1"], "brier": metrics["brier"],
        "train_reviews": len(y_train), "holdout_reviews": len(y_holdout), "oracle": oracle,
    }))


def simulate_child(scale: str, seed: int, folder: Path) -> None:
    """Simulate the storefront and save the tables the family reads (in a child, so that the parent
    stays small: a child forked from a big parent would report the parent's peak as its own)."""
    from storeml_assets.synthetic.simulator import SimulationConfig, simulate

    start = time.perf_counter()
    data = simulate(SimulationConfig(seed=seed, scale=scale))
    for name in TABLES:
        data.table(name).write_parquet(folder / f"{name}.parquet")
    print(f"simulated {scale}: {data.table('reviews').height:,} reviews in {time.perf_counter() - start:.1f} s")


def _oracle(holdout: Any) -> dict[str, float]:
    """The planted truth's figures on the holdout."""
    from storeml_assets.sentiment import metrics as sm
    from storeml_assets.sentiment.model import CLASSES

    oracle_class = np.array([CLASSES.index(s) for s in holdout["text_sentiment"].to_list()])
    proba = holdout.select("oracle_p_negative", "oracle_p_neutral", "oracle_p_positive").to_numpy()
    return sm.classification_metrics(holdout["label"].to_numpy(), oracle_class, proba)


def _child(args: list[str]) -> str:
    child = subprocess.run([sys.executable, "-m", "benchmarks.bench_sentiment", *args], cwd=REPO_ROOT,
                           capture_output=True, text=True)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{child.stderr}")
    return child.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="small", choices=("tiny", "small", "medium", "large"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--simulate-into", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.folder)
        return
    if args.simulate_into:
        simulate_child(args.scale, args.seed, args.simulate_into)
        return

    with tempfile.TemporaryDirectory(prefix="bench-sentiment-") as tmp:
        folder = Path(tmp)
        print(_child(["--scale", args.scale, "--seed", str(args.seed), "--simulate-into", str(folder)]))
        results: dict[str, dict[str, Any]] = {}
        for method in METHODS:
            results[method] = json.loads(_child(["--child", method, "--folder", str(folder)]).splitlines()[-1])
    oracle = results["storeml"].pop("oracle")
    for r in results.values():
        r.pop("oracle", None)

    ours = results["storeml"]
    print(f"\n{'method':<16}{'train s':>10}{'score/1k s':>12}{'peak MB':>10}{'macro_f1':>10}{'brier':>8}")
    for method, r in results.items():
        print(f"{method:<16}{r['train_s']:>10.2f}{r['score_per_1k_s']:>12.3f}{r['peak_rss_mb']:>10.0f}"
              f"{r['macro_f1']:>10.4f}{r['brier']:>8.4f}")
    print(f"{'oracle':<16}{'':>10}{'':>12}{'':>10}{oracle['macro_f1']:>10.4f}{oracle['brier']:>8.4f}")
    uni = results["unigram_logreg"]
    ratios = {
        "train_vs_unigram": ours["train_s"] / max(uni["train_s"], 1e-9),
        "peak_vs_unigram": ours["peak_rss_mb"] / max(uni["peak_rss_mb"], 1e-9),
        "macro_f1_gap_to_oracle": oracle["macro_f1"] - ours["macro_f1"],
        "macro_f1_gain_over_unigram": ours["macro_f1"] - uni["macro_f1"],
    }
    target = TARGET_TRAIN_SECONDS.get(args.scale)
    print(f"\ntrain {ratios['train_vs_unigram']:.1f}x the unigram baseline's time, peak "
          f"{ratios['peak_vs_unigram']:.1f}x its memory; macro-F1 {ratios['macro_f1_gap_to_oracle']:.4f} below the "
          f"oracle, {ratios['macro_f1_gain_over_unigram']:+.4f} over the unigram baseline")
    if target is not None:
        ok = ours["train_s"] <= target and ours["peak_rss_mb"] <= TARGET_PEAK_MB
        print(f"targets ({args.scale}): train <= {target:.0f} s, peak <= {TARGET_PEAK_MB:.0f} MB: "
              f"{'met' if ok else 'NOT met'}")
    print("JSON: " + json.dumps({"scale": args.scale, "seed": args.seed, "methods": results, "oracle": oracle,
                                 "ratios": ratios}))


if __name__ == "__main__":
    main()
