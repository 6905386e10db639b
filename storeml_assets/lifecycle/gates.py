"""Gate helpers for :class:`~storeml_assets.lifecycle.generic.GenericFamily`: the six gates in any
family's metrics. A family's ``gates(ctx)`` is usually six calls to these::

    [data_volume(ctx, "min_reviews"),
     floors(ctx, {"macro_f1": "macro_f1_floor"}),
     no_regression(ctx, "macro_f1", "macro_f1_tolerance"),
     bound(ctx, "calibration", "brier", maximum="brier_max", champion_tolerance="brier_tolerance"),
     data_drift(ctx, "drift_share_max"),
     <the family's consistency gate>]

Each reads its thresholds by name from ``ctx.thresholds`` (the family's defaults, overridden by
run config). Bootstrap (no champion): ``no_regression`` passes with reason "no champion".
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from storeml_assets.lifecycle.generic import GateContext
from storeml_assets.ml.gates import NO_CHAMPION, GateResult
from storeml_assets.ml.gates import data_volume as _data_volume


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def data_volume(ctx: GateContext, min_rows: str) -> GateResult:
    """Gate 1: at least ``thresholds[min_rows]`` training rows and no failed blocking check."""
    return _data_volume(ctx.training_rows, int(ctx.thresholds[min_rows]), ctx.failed_checks)


def floors(ctx: GateContext, floors_by_metric: Mapping[str, str], *, higher_is_better: Mapping[str, bool] | None = None,
           name: str = "performance_floor") -> GateResult:
    """Gate 2: each metric at or above its floor (at or below, for a metric where lower is better)."""
    better = higher_is_better or {}
    problems, value, threshold = [], {}, {}
    for metric, key in floors_by_metric.items():
        got, limit = ctx.candidate.metrics.get(metric), float(ctx.thresholds[key])
        value[metric], threshold[metric] = got, limit
        ok = _finite(got) and (got >= limit if better.get(metric, True) else got <= limit)  # type: ignore[operator]
        if not ok:
            problems.append(f"{metric} {_fmt(got)} {'<' if better.get(metric, True) else '>'} limit {limit}")
    reason = "; ".join(problems) or ", ".join(
        f"{m} {_fmt(value[m])} {'>=' if better.get(m, True) else '<='} {threshold[m]}" for m in value)
    return GateResult(name, not problems, value, threshold, reason)


def no_regression(ctx: GateContext, metric: str, tolerance: str, *, higher_is_better: bool = True) -> GateResult:
    """Gate 3: the candidate's ``metric`` no worse than the champion's (same holdout) minus a tolerance."""
    mine = ctx.candidate.metrics.get(metric)
    if ctx.champion is None:
        return GateResult("no_regression", True, {f"candidate_{metric}": mine, f"champion_{metric}": None}, None,
                          NO_CHAMPION)
    theirs = ctx.champion.metrics.get(metric)
    tol = float(ctx.thresholds[tolerance])
    if ctx.identical_to_champion:
        return GateResult("no_regression", False, {f"candidate_{metric}": mine, f"champion_{metric}": theirs,
                                                   "identical_data": True}, None, ctx.identical_to_champion)
    if not _finite(theirs):
        return GateResult("no_regression", _finite(mine), {f"candidate_{metric}": mine, f"champion_{metric}": theirs},
                          None, f"champion {metric} is undefined on this holdout; candidate {metric} {_fmt(mine)}")
    limit = theirs - tol if higher_is_better else theirs + tol  # type: ignore[operator]
    passed = _finite(mine) and (mine >= limit if higher_is_better else mine <= limit)  # type: ignore[operator]
    sign = "-" if higher_is_better else "+"
    relation = (">=" if higher_is_better else "<=") if passed else ("<" if higher_is_better else ">")
    return GateResult("no_regression", bool(passed), {f"candidate_{metric}": mine, f"champion_{metric}": theirs},
                      limit, f"candidate {metric} {_fmt(mine)} {relation} champion {_fmt(theirs)} {sign} {tol}")


def bound(ctx: GateContext, name: str, metric: str, *, maximum: str | None = None, minimum: str | None = None,
          champion_tolerance: str | None = None) -> GateResult:
    """A metric within absolute bounds and, for a lower-is-better metric with ``champion_tolerance``,
    no worse than the champion's plus the tolerance (gate ``calibration`` in most families)."""
    got = ctx.candidate.metrics.get(metric)
    problems, threshold = [], {}
    if maximum is not None:
        threshold["max"] = float(ctx.thresholds[maximum])
        if not _finite(got) or got > threshold["max"]:  # type: ignore[operator]
            problems.append(f"{metric} {_fmt(got)} > maximum {threshold['max']}")
    if minimum is not None:
        threshold["min"] = float(ctx.thresholds[minimum])
        if not _finite(got) or got < threshold["min"]:  # type: ignore[operator]
            problems.append(f"{metric} {_fmt(got)} < minimum {threshold['min']}")
    champion_value = ctx.champion.metrics.get(metric) if ctx.champion is not None else None
    if champion_tolerance is not None and _finite(champion_value):
        threshold["champion_plus_tolerance"] = champion_value + float(ctx.thresholds[champion_tolerance])  # type: ignore[operator]
        if not _finite(got) or got > threshold["champion_plus_tolerance"]:  # type: ignore[operator]
            problems.append(f"{metric} {_fmt(got)} > champion {_fmt(champion_value)} + "
                            f"{ctx.thresholds[champion_tolerance]}")
    prefix = f"{NO_CHAMPION}; " if champion_tolerance is not None and ctx.champion is None else ""
    reason = prefix + ("; ".join(problems) or f"{metric} {_fmt(got)} within {threshold}")
    return GateResult(name, not problems, {metric: got, f"champion_{metric}": champion_value}, threshold, reason)


def data_drift(ctx: GateContext, max_share: str) -> GateResult:
    """Gate 5: the share of drifted measures at most ``thresholds[max_share]``; not judged -> passes."""
    limit = float(ctx.thresholds[max_share])
    drift = ctx.drift
    if not drift.judged:
        return GateResult("data_drift", True, None, limit, drift.reason)
    share = drift.share
    passed = _finite(share) and share <= limit  # type: ignore[operator]
    drifted = f" (drifted: {', '.join(drift.drifted)})" if drift.drifted else ""
    return GateResult("data_drift", bool(passed), {"share": share, "measures": drift.measures}, limit,
                      f"drift share {_fmt(share)} {'<=' if passed else '>'} {limit}{drifted}")
