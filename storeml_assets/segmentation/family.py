"""The customer-segmentation family on the generic lifecycle: ``FAMILY``.

- reads ``features.customer_features`` (the rows of its latest cutoff: recency, frequency, monetary value,
  tenure and the activity model's p_alive, computed once by :mod:`storeml_assets.features.customer`), the same
  columns of ``features.training_set`` (earlier cutoffs: the drift reference, not required),
  ``raw.users`` and ``raw.orders`` (their minimums) and, when the simulator wrote it,
  ``ground_truth.customer_personas`` (the oracle; absent with external sources, so not required);
- splits the customers at random (seeded): 75% train, 25% holdout;
- fits :class:`~storeml_assets.segmentation.model.SegmentationModel` and evaluates it on the holdout beside
  the RFM-quintile grid and beside the planted personas: silhouette, adjusted Rand index against the
  personas, stability (adjusted Rand index against refits on bootstrap resamples), smallest segment share;
- gates: customers, silhouette and stability floors, no regression of the silhouette, smallest segment
  share, drift of the feature distributions and of the lifecycle mix (now against a horizon earlier), and ``segment_stability`` (the
  adjusted Rand index against the champion's assignment of the same holdout customers);
- writes ``features.customer_segments`` (customer id, segment, probability, model version).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import polars as pl
from scipy.stats import ks_2samp
from sklearn.metrics import adjusted_rand_score

from storeml_assets.lifecycle import gates as lg
from storeml_assets.lifecycle.generic import (
    DriftResult,
    Evaluation,
    GateContext,
    GenericFamily,
    IdLookup,
    Prepared,
    ServedInputs,
    Skip,
    require_rows,
)
from storeml_assets.ml.gates import NO_CHAMPION, GateResult
from storeml_assets.segmentation import metrics as sg
from storeml_assets.segmentation.model import (
    HIBERNATING,
    INPUT_COLUMNS,
    K_RANGE,
    NEW,
    SegmentationModel,
    lifecycle,
)

NAME = "customer_segmentation"
PURPOSE = "customer segmentation needs customers and their orders"
FEATURES_TABLE = "customer_features"
#: Features at earlier cutoffs (the purchase-propensity training set): the drift reference.
TRAINING_SET_TABLE = "training_set"
MIN_CUSTOMERS = 100
MIN_USERS = 100
MIN_ORDERS = 500
HOLDOUT_SHARE = 0.25
BOOTSTRAP_REFITS = 3
#: Holdout customers whose assignment the evaluation keeps (for the champion comparison).
ASSIGNMENT_SAMPLE = 2_000
OUTPUT_KEY = dg.AssetKey(["features", "customer_segments"])
#: Drift: a feature's two-sample KS statistic, and the total-variation distance of the lifecycle mix.
KS_THRESHOLD = 0.1
MIX_THRESHOLD = 0.05
MIN_DRIFT_ROWS = 100
DRIFT_COLUMNS = ("recency_days", "frequency", "monetary", "tenure_days", "activity_p_alive")

GATE_DEFAULTS: dict[str, float] = {
    "min_customers": MIN_CUSTOMERS,
    "silhouette_floor": 0.15,
    "stability_floor": 0.6,
    "silhouette_tolerance": 0.05,
    "smallest_share_min": 0.02,
    "drift_share_max": 0.5,
    "champion_ari_min": 0.5,
}


def latest_customers(frames: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """The rows of the latest cutoff of ``features.customer_features``, one per customer, by customer id."""
    features = require_rows(frames, FEATURES_TABLE, MIN_CUSTOMERS, PURPOSE)
    missing = [c for c in ("customer_id", "cutoff", *INPUT_COLUMNS) if c not in features.columns]
    if missing:
        raise Skip(f"{FEATURES_TABLE} lacks columns {missing} ({PURPOSE})")
    latest = features.filter(pl.col("cutoff") == pl.col("cutoff").max()).unique("customer_id", keep="first")
    return require_rows({FEATURES_TABLE: latest}, FEATURES_TABLE, MIN_CUSTOMERS,
                        f"{PURPOSE}, at the latest cutoff").sort("customer_id")


def _with_personas(holdout: pl.DataFrame, frames: Mapping[str, pl.DataFrame]) -> tuple[pl.DataFrame, str]:
    truth = frames.get("customer_personas")
    if truth is None:
        return holdout, "no ground_truth.customer_personas (external sources): the oracle is unknown"
    truth = truth.select(pl.col("user_id").cast(pl.Int64).alias("customer_id"), pl.col("persona").cast(pl.String))
    joined = holdout.join(truth, on="customer_id", how="left")
    missing = joined["persona"].null_count()
    if missing:
        return holdout, f"ground_truth.customer_personas lacks {missing} of {holdout.height} holdout customers"
    return joined, ""


def prepare(frames: Mapping[str, pl.DataFrame], seed: int) -> Prepared:
    """A seeded 75/25 split of the latest cutoff's customers; the holdout carries the personas when known."""
    customers = latest_customers(frames)
    clusterable = int((lifecycle(customers.select(INPUT_COLUMNS).to_pandas()) == "").sum())
    needed = 4 * K_RANGE[1]
    if clusterable < needed / (1 - HOLDOUT_SHARE):
        raise Skip(f"{FEATURES_TABLE} has {clusterable} customers with orders in the lookback who are not new "
                   f"< {int(needed / (1 - HOLDOUT_SHARE))} ({PURPOSE})")
    rng = np.random.default_rng(seed)
    is_holdout = rng.random(customers.height) < HOLDOUT_SHARE
    train = customers.filter(pl.Series(~is_holdout))
    holdout, reason = _with_personas(customers.filter(pl.Series(is_holdout)), frames)
    cutoff = customers["cutoff"].max()
    return Prepared(train=train, holdout=holdout, training_rows=train.height, window=(cutoff, cutoff),
                    extra={"oracle_reason": reason, "seed": seed})


def fit(prepared: Prepared, seed: int) -> SegmentationModel:
    return SegmentationModel().fit(prepared.train.select(INPUT_COLUMNS).to_pandas(), seed)


def _bootstrap_stability(model: SegmentationModel, prepared: Prepared, holdout: pd.DataFrame,
                         assigned: np.ndarray) -> float:
    """Mean ARI between ``assigned`` and the holdout assignments of refits on bootstrap resamples of train."""
    train = prepared.train.select(INPUT_COLUMNS).to_pandas()
    seed = int(prepared.extra.get("seed", 0))
    others = []
    for refit in range(BOOTSTRAP_REFITS):
        rng = np.random.default_rng([seed, refit])
        sample = train.iloc[rng.integers(0, len(train), len(train))].reset_index(drop=True)
        other = SegmentationModel(model.k_range).fit(sample, seed + refit + 1)
        others.append(other.assign(holdout)[0])
    return sg.mean_ari(assigned, others)


def _baselines(prepared: Prepared, holdout: pd.DataFrame, space: np.ndarray,
               personas: np.ndarray | None) -> dict[str, dict[str, float]]:
    if "baselines" not in prepared.extra:
        grid = sg.rfm_quintile_segments(holdout)
        prepared.extra["baselines"] = {"rfm_quintile": sg.segment_figures(space, grid, personas)}
    return prepared.extra["baselines"]


def evaluate(model: SegmentationModel, prepared: Prepared) -> Evaluation:
    """Holdout figures of ``model`` beside the RFM-quintile grid and the planted personas; the segment profile."""
    holdout = prepared.holdout.to_pandas()
    assigned, _ = model.assign(holdout)
    space = sg.evaluation_space(holdout)
    reason = str(prepared.extra.get("oracle_reason", ""))
    personas = None if reason else holdout["persona"].astype(str).to_numpy()
    metrics = sg.segment_figures(space, assigned, personas)
    metrics["stability"] = _bootstrap_stability(model, prepared, holdout, assigned)
    oracle = None if personas is None else {**sg.segment_figures(space, personas, personas), "stability": 1.0}
    baselines = _baselines(prepared, holdout, space, personas)
    profile = sg.segment_profile(holdout, assigned)
    keep = min(len(holdout), ASSIGNMENT_SAMPLE)
    table = [[m, f"{metrics.get(m, float('nan')):.4f}",
              *[f"{b.get(m, float('nan')):.4f}" for b in baselines.values()],
              *([f"{oracle.get(m, float('nan')):.4f}"] if oracle else [])] for m in sg.METRICS]
    header = ["metric", "model", *baselines, *(["personas (oracle)"] if oracle else [])]
    return Evaluation(
        metrics=metrics, baselines=baselines, oracle=oracle, oracle_reason=reason,
        details={"profile": profile, "segments": model.segments, "silhouette_by_k": model.silhouette_by_k,
                 "holdout_customers": len(holdout),
                 "assignment": {"customer_id": holdout["customer_id"].head(keep).astype(int).tolist(),
                                "segment": assigned[:keep].tolist()}},
        markdown="### Segment profile (holdout)\n\n" + sg.profile_markdown(profile) + "\n\n### Figures\n\n"
                 + sg.markdown_table(table, header, right=header[1:]),
        plots={"segments.png": sg.segment_plot(holdout, assigned)},
    )


def segment_stability(ctx: GateContext) -> GateResult:
    """Gate 6: the candidate's segments agree with the champion's on the same holdout customers (adjusted
    Rand index at least ``champion_ari_min``); bootstrap: passes with "no champion"."""
    minimum = float(ctx.thresholds["champion_ari_min"])
    if ctx.champion is None:
        return GateResult("segment_stability", True, None, minimum, NO_CHAMPION)
    mine = ctx.candidate.details.get("assignment") or {}
    theirs = ctx.champion.details.get("assignment") or {}
    if not mine.get("customer_id") or mine.get("customer_id") != theirs.get("customer_id"):
        return GateResult("segment_stability", False, None, minimum,
                          "the champion's assignment does not cover the candidate's holdout customers")
    ari = float(adjusted_rand_score(theirs["segment"], mine["segment"]))
    passed = ari >= minimum
    return GateResult("segment_stability", passed, {"champion_ari": ari, "customers": len(mine["segment"])}, minimum,
                      f"ARI against the champion's segments {ari:.4f} {'>=' if passed else '<'} {minimum}")


def gates(ctx: GateContext) -> list[GateResult]:
    return [
        lg.data_volume(ctx, "min_customers"),
        lg.floors(ctx, {"silhouette": "silhouette_floor", "stability": "stability_floor"}),
        lg.no_regression(ctx, "silhouette", "silhouette_tolerance"),
        lg.bound(ctx, "calibration", "smallest_segment_share", minimum="smallest_share_min"),
        lg.data_drift(ctx, "drift_share_max"),
        segment_stability(ctx),
    ]


def _mix(frame: pd.DataFrame) -> np.ndarray:
    rule = lifecycle(frame)
    return np.array([(rule == NEW).mean(), (rule == HIBERNATING).mean(), (rule == "").mean()])


def _month_before(frames: Mapping[str, pl.DataFrame], latest: Any) -> pl.DataFrame | None:
    """The customers of the latest cutoff of ``features.training_set`` before ``latest`` (its holdout cutoff,
    a horizon before the end of the data), or None."""
    earlier = frames.get(TRAINING_SET_TABLE)
    if earlier is None or not {"customer_id", "cutoff", *INPUT_COLUMNS} <= set(earlier.columns):
        return None
    earlier = earlier.filter(pl.col("cutoff") < latest)
    if earlier.is_empty():
        return None
    return earlier.filter(pl.col("cutoff") == pl.col("cutoff").max()).unique("customer_id", keep="first")


def drift(prepared: Prepared, frames_now: Mapping[str, pl.DataFrame]) -> DriftResult:
    """The latest customers' feature distributions (KS) and lifecycle mix against the same customers' features a
    horizon earlier (the latest cutoff of ``features.training_set`` before theirs)."""
    try:
        latest = latest_customers(frames_now)
    except Skip as skip:
        return DriftResult({}, [], None, False, f"drift not judged: {skip}")
    earlier = _month_before(frames_now, latest["cutoff"].max())
    if earlier is None:
        return DriftResult({}, [], None, False, f"drift not judged: no earlier cutoff in features.{TRAINING_SET_TABLE}")
    now = latest.select(INPUT_COLUMNS).to_pandas()
    reference = earlier.select(INPUT_COLUMNS).to_pandas()
    if len(now) < MIN_DRIFT_ROWS or len(reference) < MIN_DRIFT_ROWS:
        return DriftResult({}, [], None, False, f"drift not judged: {len(reference)} earlier and {len(now)} "
                                                f"current customers (need {MIN_DRIFT_ROWS} each)")
    measures: dict[str, float] = {}
    for column in DRIFT_COLUMNS:
        ref, cur = reference[column].dropna().to_numpy(float), now[column].dropna().to_numpy(float)
        measures[f"{column}_ks"] = float(ks_2samp(ref, cur).statistic) if len(ref) and len(cur) else 0.0
    measures["lifecycle_mix_distance"] = float(0.5 * np.abs(_mix(reference) - _mix(now)).sum())
    drifted = [m for m, v in measures.items() if v > (MIX_THRESHOLD if m == "lifecycle_mix_distance" else KS_THRESHOLD)]
    return DriftResult(measures, drifted, len(drifted) / len(measures), True,
                       f"{len(now)} customers at {latest['cutoff'].max()!s} against {len(reference)} at "
                       f"{earlier['cutoff'].max()!s}")


def output(model: SegmentationModel, frames: Mapping[str, pl.DataFrame], version: str) -> pl.DataFrame:
    """Every customer of the latest cutoff: segment, probability and model version (``features.customer_segments``)."""
    customers = latest_customers(frames)
    segment, probability = model.assign(customers.select(INPUT_COLUMNS).to_pandas())
    return pl.DataFrame({
        "customer_id": customers["customer_id"].cast(pl.Int64),
        "segment": pl.Series(segment.tolist(), dtype=pl.String),
        "probability": pl.Series(probability, dtype=pl.Float64),
        "model_version": pl.Series([version] * customers.height, dtype=pl.String),
    })


def input_example(prepared: Prepared) -> pd.DataFrame:
    """Three holdout customers' features and a customer with none (every feature missing: served as ``new``,
    a customer the features do not know yet; and every feature column optional in the signature), as floats."""
    rows = prepared.holdout.select(pl.col("customer_id").cast(pl.Int64), pl.col(INPUT_COLUMNS).cast(pl.Float64)).head(3)
    unknown = pl.DataFrame({"customer_id": [0], **{c: [None] for c in INPUT_COLUMNS}},
                           schema=rows.schema)
    return pl.concat([rows, unknown]).to_pandas()


def _params() -> dict[str, Any]:
    return {"holdout_share": HOLDOUT_SHARE, "bootstrap_refits": BOOTSTRAP_REFITS,
            **{k: str(v) for k, v in SegmentationModel().params().items()}}


FAMILY = GenericFamily(
    name=NAME,
    group="segmentation",
    description="Customer segments: new, hibernating, and clusters of the buying customers named from their "
                "centroids (champions, loyal, occasional, at risk, lapsing) from recency, frequency and activity.",
    purpose=PURPOSE,
    tables={
        f"features.{FEATURES_TABLE}": ("customer_id", "cutoff", *INPUT_COLUMNS),
        f"features.{TRAINING_SET_TABLE}": ("customer_id", "cutoff", *INPUT_COLUMNS),
        "raw.users": ("user_id",),
        "raw.orders": ("order_id",),
        "ground_truth.customer_personas": ("user_id", "persona"),
    },
    requires={"users": MIN_USERS, "orders": MIN_ORDERS, FEATURES_TABLE: MIN_CUSTOMERS},
    prepare=prepare,
    fit=fit,
    evaluate=evaluate,
    gates=gates,
    gate_defaults=GATE_DEFAULTS,
    drift=drift,
    output=output,
    output_key=OUTPUT_KEY,
    input_example=input_example,
    metrics=sg.METRICS,
    primary_metric="silhouette",
    code_version="1",
    params=_params(),
    # customer_ids: each id's newest row of the features table the model reads
    id_lookup=IdLookup(table=f"features.{FEATURES_TABLE}", columns=INPUT_COLUMNS),
    served_class="segment",
    # served-input drift: the served customers' features against the newest cutoff's, which the model trains on
    served_inputs=ServedInputs(
        reference_sql=(f"select {', '.join(INPUT_COLUMNS)} from features.{FEATURES_TABLE} "
                       f"where cutoff = (select max(cutoff) from features.{FEATURES_TABLE})"),
        columns=INPUT_COLUMNS,
    ),
)
