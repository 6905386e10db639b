"""Demand-forecasting benchmark: the family against the weekly seasonal naive, in one run.

    python -m benchmarks.bench_forecasting [--scale small|large] [--seed 7]
    python -m benchmarks.bench_forecasting --many-series 1000 --days 730 [--candidates AutoETS,MSTL,SeasonalNaive]
        [--refit-every-origin] [--jobs N]

The parent simulates the storefront once and saves its orders, order items, products and expected demand;
each method then runs in its own subprocess, so each one's peak RSS is its own. ``storeml`` prepares the
series, fits (rolling-origin cross-validation of every candidate, the choice per series, the refit for the
next 28 days: timed as ``train``) and scores (the backtest and the output table: ``score``);
``seasonal_naive`` does the same with the seasonal naive as the only candidate. ``--many-series`` instead
times the fit on N seeded synthetic series of ``--days`` days (weekly and yearly seasonality, trend,
Poisson noise) by stage (cross-validation, choice, refit of the chosen models) and reports the backtest WAPE of
the choice; ``--refit-every-origin`` times the earlier path (every candidate refit at every origin). Targets: <= 60 s at ``small``, <= 5 min at ``large``, peak <= 4 GB; 1,000 series x 2 years
with cross-validation <= 2 min. The last line is ``JSON: {...}``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

METHODS = ("storeml", "seasonal_naive")
TABLES = ("orders", "order_items", "products", "expected_demand")
REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_TRAIN_SECONDS = {"small": 60.0, "large": 300.0}
TARGET_PEAK_MB = 4096.0
TARGET_MANY_SERIES_SECONDS = 120.0


def run_child(method: str, folder: Path) -> None:
    """Prepare, fit and score one method on the saved frames; print a JSON line of its figures."""
    import polars as pl

    from storeml_assets.forecasting import family as ff
    from storeml_assets.forecasting.model import CANDIDATES

    frames = {name: pl.read_parquet(folder / f"{name}.parquet") for name in TABLES}
    start = time.perf_counter()
    prepared = ff.prepare(frames, 0)
    prepare_s = time.perf_counter() - start
    candidates = CANDIDATES if method == "storeml" else ("SeasonalNaive",)
    start = time.perf_counter()
    forecaster = ff.fit(prepared, 0, candidates=candidates)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    evaluation = ff.evaluate(forecaster, prepared)
    output = ff.output(forecaster, frames, "bench")
    score_s = time.perf_counter() - start
    print(json.dumps({
        "prepare_s": prepare_s, "train_s": train_s, "score_s": score_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "series": len(prepared.extra["series"].ids), "days": prepared.extra["series"].days,
        "output_rows": output.height, **{k: evaluation.metrics[k] for k in ("wape", "mase", "bias", "coverage_80",
                                                                            "coverage_95")},
        "oracle_wape": (evaluation.oracle or {}).get("wape", float("nan")),
        "models_chosen": evaluation.details["models_chosen"],
    }))


def many_series(n: int, days: int, seed: int) -> object:
    """N synthetic daily series (weekly and yearly seasonality, trend, Poisson noise) as a long polars frame."""
    import polars as pl

    rng = np.random.default_rng(seed)
    t = np.arange(days)
    level = rng.gamma(2.0, 10.0, n)[:, None]
    weekly = 1.0 + rng.uniform(0.1, 0.4, n)[:, None] * np.sin(2 * np.pi * (t[None, :] + rng.integers(0, 7, n)[:, None]) / 7)
    yearly = 1.0 + 0.15 * np.cos(2 * np.pi * (t[None, :] - rng.integers(0, 365, n)[:, None]) / 365.25)
    trend = 1.0 + rng.uniform(-0.2, 0.4, n)[:, None] * t[None, :] / days
    y = rng.poisson(level * weekly * yearly * trend).astype(np.float64)
    start = np.datetime64("2024-11-01")
    return pl.DataFrame({"unique_id": np.repeat([f"series:{i}" for i in range(n)], days),
                         "ds": np.tile(start + t.astype("timedelta64[D]"), n), "y": y.ravel()}
                        ).with_columns(pl.col("ds").cast(pl.Date))


def run_many(n: int, days: int, seed: int, candidates: tuple[str, ...], refit: bool, jobs: int | None) -> None:
    """Fit (cross-validation, choice, refit for 28 days) on N synthetic series; print a JSON line."""
    import pandas as pd

    from storeml_assets.forecasting import data, model

    series = many_series(n, days, seed)
    workers = model.jobs(n) if jobs is None else jobs
    start = time.perf_counter()
    cv = model.cross_validate(series, candidates, data.BACKTEST_WINDOWS + data.SELECTION_WINDOWS,  # type: ignore[arg-type]
                              refit=True if refit else model.CV_REFIT, n_jobs=workers)
    cv_s = time.perf_counter() - start
    choices = model.choose(cv, candidates)
    choose_s = time.perf_counter() - start - cv_s
    ahead = model.forecast_ahead(series, choices, n_jobs=workers)  # type: ignore[arg-type]
    fit_s = time.perf_counter() - start
    origin = pd.Timestamp(sorted(cv["cutoff"].unique())[data.SELECTION_WINDOWS])  # the family's backtest origins
    scale = model.seasonal_scale(series, (origin + pd.Timedelta(days=1)).date())  # type: ignore[arg-type]
    wape = model.score(model.selected(cv, candidates, origin), scale).wape
    naive = model.score(model.baseline(cv, origin), scale).wape if model.BASELINE in candidates else float("nan")
    print(json.dumps({"series": n, "days": days, "candidates": list(candidates), "refit_every_origin": refit,
                      "jobs": workers, "cv_s": cv_s, "choose_s": choose_s, "ahead_s": fit_s - cv_s - choose_s,
                      "fit_s": fit_s, "forecast_rows": len(ahead), "wape": wape, "wape_vs_naive": wape / naive,
                      "models_chosen": dict(Counter(choices.values()).most_common()),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "peak_worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))


def _child(args: list[str]) -> dict[str, object]:
    child = subprocess.run([sys.executable, "-m", "benchmarks.bench_forecasting", *args], cwd=REPO_ROOT,
                           capture_output=True, text=True)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{child.stderr[-4000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="small", choices=("tiny", "small", "medium", "large"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--many-series", type=int, default=0, help="time the fit on N synthetic series instead")
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--candidates", default="AutoETS,AutoARIMA,MSTL,SeasonalNaive")
    parser.add_argument("--refit-every-origin", action="store_true",
                        help="with --many-series: refit every candidate at every origin (the path before one fit per "
                        "series was carried forward), in one process unless --jobs says otherwise")
    parser.add_argument("--jobs", type=int, help="with --many-series: worker processes (default: one per CPU)")
    parser.add_argument("--child", choices=(*METHODS, "many"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    candidates = tuple(c.strip() for c in args.candidates.split(",") if c.strip())
    if args.child == "many":
        run_many(args.many_series, args.days, args.seed, candidates, args.refit_every_origin,
                 1 if args.refit_every_origin and args.jobs is None else args.jobs)
        return
    if args.child:
        run_child(args.child, args.folder)
        return
    if args.many_series:
        base = ["--many-series", str(args.many_series), "--days", str(args.days), "--seed", str(args.seed)]
        path = (["--refit-every-origin"] if args.refit_every_origin else []) + (
            ["--jobs", str(args.jobs)] if args.jobs is not None else [])
        ours = _child(["--child", "many", *base, "--candidates", ",".join(candidates), *path])
        naive = _child(["--child", "many", *base, "--candidates", "SeasonalNaive", *path])
        ratio = float(ours["fit_s"]) / max(float(naive["fit_s"]), 1e-9)  # type: ignore[arg-type]
        print(f"{args.many_series} series x {args.days} days, candidates {','.join(candidates)}, "
              f"{'refit at every origin' if args.refit_every_origin else 'one fit per series carried forward'}, "
              f"{ours['jobs']} process(es): fit with cross-validation {ours['fit_s']:.1f} s (cv {ours['cv_s']:.1f} s, "
              f"choice {ours['choose_s']:.1f} s, refit of the chosen models {ours['ahead_s']:.1f} s), peak "
              f"{ours['peak_rss_mb']:.0f} MB (largest worker process {ours['peak_worker_rss_mb']:.0f} MB); "
              f"seasonal naive alone {naive['fit_s']:.1f} s ({ratio:.0f}x)")
        print(f"backtest WAPE {ours['wape']:.4f} ({ours['wape_vs_naive']:.3f}x the seasonal naive's); "
              f"models chosen {ours['models_chosen']}")
        ok = float(ours["fit_s"]) <= TARGET_MANY_SERIES_SECONDS  # type: ignore[arg-type]
        print(f"target: <= {TARGET_MANY_SERIES_SECONDS:.0f} s: {'met' if ok else 'NOT met'}")
        print("JSON: " + json.dumps({"many_series": ours, "seasonal_naive": naive, "fit_vs_naive": ratio}))
        return

    from storeml_assets.synthetic.simulator import SimulationConfig, simulate

    with tempfile.TemporaryDirectory(prefix="bench-forecasting-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        data = simulate(SimulationConfig(seed=args.seed, scale=args.scale))
        for name in TABLES:
            data.table(name).write_parquet(folder / f"{name}.parquet")
        print(f"simulated {args.scale}: {data.table('order_items').height:,} order lines in "
              f"{time.perf_counter() - start:.1f} s")
        del data
        results = {method: _child(["--child", method, "--folder", str(folder)]) for method in METHODS}

    print(f"\n{'method':<16}{'train s':>9}{'score s':>9}{'peak MB':>9}{'wape':>8}{'mase':>8}{'bias':>8}"
          f"{'cov80':>7}{'cov95':>7}")
    for method, r in results.items():
        print(f"{method:<16}{r['train_s']:>9.1f}{r['score_s']:>9.1f}{r['peak_rss_mb']:>9.0f}{r['wape']:>8.4f}"
              f"{r['mase']:>8.4f}{r['bias']:>8.4f}{r['coverage_80']:>7.3f}{r['coverage_95']:>7.3f}")
    ours, naive = results["storeml"], results["seasonal_naive"]
    print(f"{'oracle':<16}{'':>27}{ours['oracle_wape']:>8.4f}")
    print(f"largest statsforecast worker process: storeml {ours['peak_worker_rss_mb']:.0f} MB, "
          f"seasonal naive {naive['peak_worker_rss_mb']:.0f} MB")
    ratios = {
        "train_vs_naive": float(ours["train_s"]) / max(float(naive["train_s"]), 1e-9),  # type: ignore[arg-type]
        "peak_vs_naive": float(ours["peak_rss_mb"]) / max(float(naive["peak_rss_mb"]), 1e-9),  # type: ignore[arg-type]
        "wape_vs_naive": float(ours["wape"]) / float(naive["wape"]),  # type: ignore[arg-type]
        "wape_vs_oracle": float(ours["wape"]) / float(ours["oracle_wape"]),  # type: ignore[arg-type]
    }
    print(f"\ntrain {ratios['train_vs_naive']:.1f}x the seasonal naive's time, peak {ratios['peak_vs_naive']:.1f}x "
          f"its memory; WAPE {ratios['wape_vs_naive']:.3f}x the naive's, {ratios['wape_vs_oracle']:.3f}x the oracle's")
    target = TARGET_TRAIN_SECONDS.get(args.scale)
    if target is not None:
        ok = float(ours["train_s"]) <= target and float(ours["peak_rss_mb"]) <= TARGET_PEAK_MB  # type: ignore[arg-type]
        print(f"targets ({args.scale}): train <= {target:.0f} s, peak <= {TARGET_PEAK_MB:.0f} MB: "
              f"{'met' if ok else 'NOT met'}")
    print("JSON: " + json.dumps({"scale": args.scale, "seed": args.seed, "methods": results, "ratios": ratios}))


if __name__ == "__main__":
    main()
