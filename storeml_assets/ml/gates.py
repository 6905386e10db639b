"""The six promotion gates: plain functions over plain inputs, and the decision they add up to.

Every gate returns a :class:`GateResult` whose ``value`` and ``threshold`` are JSON values (a
number, or a small dict for gates with more than one part) and whose ``reason`` is one line.

Bootstrap (no champion yet): ``no_regression`` passes with reason "no champion";
``calibration`` passes its relative part with reason "no champion" but still enforces the
absolute Brier maximum, so a badly calibrated first model is not promoted either.

Segments in ``segment_consistency``: a segment value with fewer than ``min_segment_rows`` holdout
rows or fewer than ``min_segment_positives`` positive labels is ignored (its F1 is noise, or
undefined without positives); the floor and the max-min gap apply within each segment column.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from storeml_assets.jsonsafe import to_jsonable
from storeml_assets.ml.drift import DriftSummary
from storeml_assets.ml.train import EvaluationResult

NO_CHAMPION = "no champion"

GATE_NAMES: tuple[str, ...] = (
    "data_volume",
    "performance_floor",
    "no_regression",
    "calibration",
    "data_drift",
    "segment_consistency",
)


@dataclass(frozen=True)
class GateConfig:
    """Thresholds of the six gates."""

    min_training_rows: int = 500
    f1_floor: float = 0.3
    roc_auc_floor: float = 0.7
    f1_regression_tolerance: float = 0.02
    brier_tolerance: float = 0.01
    brier_max: float = 0.2
    drift_share_max: float = 0.3
    segment_f1_floor: float = 0.2
    segment_f1_gap_max: float = 0.3
    min_segment_rows: int = 50
    min_segment_positives: int = 10

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict."""

    name: str
    passed: bool
    value: Any
    threshold: Any
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": bool(self.passed),
            "value": to_jsonable(self.value),
            "threshold": to_jsonable(self.threshold),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Decision:
    """Promote or reject, with every gate's verdict and a one-paragraph reasoning."""

    action: Literal["promote", "reject"]
    gates: list[GateResult] = field(default_factory=list)
    reasoning: str = ""

    @property
    def failed_gates(self) -> list[str]:
        return [g.name for g in self.gates if not g.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "gates": [g.to_dict() for g in self.gates],
            "reasoning": self.reasoning,
        }


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _ge(value: float | None, floor: float) -> bool:
    """``value >= floor``, false for a missing or NaN value."""
    return value is not None and math.isfinite(value) and value >= floor


def data_volume(rows: int, min_rows: int, failed_checks: list[str]) -> GateResult:
    """Gate 1: enough training rows and no failed blocking source check."""
    problems = []
    if rows < min_rows:
        problems.append(f"{rows} training rows < minimum {min_rows}")
    if failed_checks:
        problems.append(f"blocking checks failed: {', '.join(sorted(failed_checks))}")
    return GateResult(
        name="data_volume",
        passed=not problems,
        value={"rows": int(rows), "failed_checks": sorted(failed_checks)},
        threshold={"min_rows": int(min_rows)},
        reason="; ".join(problems) or f"{rows} training rows >= {min_rows} and all blocking checks passed",
    )


def performance_floor(f1: float, roc_auc: float, f1_floor: float, roc_auc_floor: float) -> GateResult:
    """Gate 2: candidate F1 and ROC-AUC at or above their floors."""
    problems = []
    if not _ge(f1, f1_floor):
        problems.append(f"F1 {_fmt(f1)} < floor {f1_floor}")
    if not _ge(roc_auc, roc_auc_floor):
        problems.append(f"ROC-AUC {_fmt(roc_auc)} < floor {roc_auc_floor}")
    return GateResult(
        name="performance_floor",
        passed=not problems,
        value={"f1": f1, "roc_auc": roc_auc},
        threshold={"f1": f1_floor, "roc_auc": roc_auc_floor},
        reason="; ".join(problems) or f"F1 {_fmt(f1)} >= {f1_floor} and ROC-AUC {_fmt(roc_auc)} >= {roc_auc_floor}",
    )


def no_regression(candidate_f1: float, champion_f1: float | None, tolerance: float,
                  identical_to_champion: str | None = None) -> GateResult:
    """Gate 3: candidate F1 >= champion F1 - tolerance (same holdout); passes with no champion.

    ``identical_to_champion`` (why the candidate was trained on exactly the champion's data with the
    same code) fails the gate whatever the F1s say: the tolerance would let an identical model through
    as a "new" version.
    """
    if champion_f1 is None:
        return GateResult("no_regression", True, {"candidate_f1": candidate_f1, "champion_f1": None},
                          None, NO_CHAMPION)
    if identical_to_champion:
        return GateResult("no_regression", False,
                          {"candidate_f1": candidate_f1, "champion_f1": champion_f1, "identical_data": True},
                          champion_f1 - tolerance, identical_to_champion)
    minimum = champion_f1 - tolerance
    passed = _ge(candidate_f1, minimum)
    relation = ">=" if passed else "<"
    return GateResult(
        name="no_regression",
        passed=passed,
        value={"candidate_f1": candidate_f1, "champion_f1": champion_f1},
        threshold=minimum,
        reason=f"candidate F1 {_fmt(candidate_f1)} {relation} champion F1 {_fmt(champion_f1)} - {tolerance}",
    )


def calibration(candidate_brier: float, champion_brier: float | None, tolerance: float,
                brier_max: float) -> GateResult:
    """Gate 4: Brier <= champion Brier + tolerance and <= an absolute maximum.

    With no champion only the absolute maximum applies; the reason then starts with "no champion".
    """
    problems = []
    finite = candidate_brier is not None and math.isfinite(candidate_brier)
    if not finite or candidate_brier > brier_max:
        problems.append(f"Brier {_fmt(candidate_brier)} > maximum {brier_max}")
    relative_limit = None if champion_brier is None else champion_brier + tolerance
    if relative_limit is not None and (not finite or candidate_brier > relative_limit):
        problems.append(
            f"Brier {_fmt(candidate_brier)} > champion Brier {_fmt(champion_brier)} + {tolerance}"
        )
    if problems:
        reason = ("no champion; " if champion_brier is None else "") + "; ".join(problems)
    elif champion_brier is None:
        reason = f"{NO_CHAMPION}; Brier {_fmt(candidate_brier)} <= maximum {brier_max}"
    else:
        reason = (f"Brier {_fmt(candidate_brier)} <= champion Brier {_fmt(champion_brier)} + {tolerance} "
                  f"and <= maximum {brier_max}")
    return GateResult(
        name="calibration",
        passed=not problems,
        value={"candidate_brier": candidate_brier, "champion_brier": champion_brier},
        threshold={"max": brier_max, "champion_plus_tolerance": relative_limit},
        reason=reason,
    )


def data_drift(drift: DriftSummary | float | None, max_share: float) -> GateResult:
    """Gate 5: drift share between the training rows and the current features <= threshold.

    ``drift`` is the drift summary (:func:`storeml_assets.features.customer.customer_drift`) or a bare
    share. A summary that could not judge ("not enough data to judge drift (N reference / M current
    rows < K)") passes the gate with that reason: too little data is no evidence of drift.
    """
    share: float | None
    compared = ""
    if drift is None or isinstance(drift, int | float):
        share = None if drift is None else float(drift)
    elif not drift.judged:
        return GateResult(name="data_drift", passed=True, value=None, threshold=max_share, reason=drift.reason)
    else:
        share, compared = drift.drift_share, f" ({drift.drifted_count} of {drift.column_count} columns)"
    passed = share is not None and math.isfinite(share) and share <= max_share
    return GateResult(
        name="data_drift",
        passed=passed,
        value=share,
        threshold=max_share,
        reason=f"drift share {_fmt(share)}{compared} {'<=' if passed else '>'} {max_share}",
    )


def segment_consistency(
    segment_f1: dict[str, dict[str, dict[str, float]]],
    *,
    f1_floor: float,
    gap_max: float,
    min_rows: int,
    min_positives: int = 0,
) -> GateResult:
    """Gate 6: every (large enough) segment's F1 >= floor and max - min F1 <= gap, per segment column."""
    problems: list[str] = []
    value: dict[str, Any] = {}
    for column, per_value in segment_f1.items():
        considered = {
            seg: stats["f1"]
            for seg, stats in per_value.items()
            if stats.get("n", 0) >= min_rows and stats.get("positives", min_positives) >= min_positives
        }
        ignored = sorted(set(per_value) - set(considered))
        if not considered:
            value[column] = {"min_f1": None, "max_f1": None, "gap": None, "ignored": ignored}
            continue
        worst = min(considered, key=considered.__getitem__)
        best = max(considered, key=considered.__getitem__)
        gap = considered[best] - considered[worst]
        value[column] = {"min_f1": considered[worst], "max_f1": considered[best], "gap": gap,
                         "worst": worst, "ignored": ignored}
        below = sorted(seg for seg, f1 in considered.items() if not _ge(f1, f1_floor))
        if below:
            problems.append(f"{column}: F1 below {f1_floor} in {', '.join(below)}")
        if gap > gap_max:
            problems.append(f"{column}: F1 gap {gap:.4f} ({best} - {worst}) > {gap_max}")
    if problems:
        reason = "; ".join(problems)
    elif not any(v.get("min_f1") is not None for v in value.values()):
        reason = f"no segment with >= {min_rows} rows and >= {min_positives} positives to compare"
    else:
        reason = f"every segment F1 >= {f1_floor} and every gap <= {gap_max}"
    return GateResult(
        name="segment_consistency",
        passed=not problems,
        value=value,
        threshold={"f1_floor": f1_floor, "gap_max": gap_max, "min_rows": min_rows,
                   "min_positives": min_positives},
        reason=reason,
    )


def evaluate_gates(
    candidate: EvaluationResult,
    champion: EvaluationResult | None,
    *,
    training_rows: int,
    failed_checks: list[str],
    drift_share: DriftSummary | float | None,
    config: GateConfig | None = None,
    identical_to_champion: str | None = None,
) -> Decision:
    """Run the six gates; ``promote`` only when every gate passes.

    ``champion`` must be the champion model scored on the same holdout as ``candidate``;
    ``identical_to_champion`` says why the candidate is the champion's data and code again (see
    :func:`no_regression`).
    """
    config = config or GateConfig()
    gates = [
        data_volume(training_rows, config.min_training_rows, failed_checks),
        performance_floor(candidate.f1, candidate.roc_auc, config.f1_floor, config.roc_auc_floor),
        no_regression(candidate.f1, champion.f1 if champion else None, config.f1_regression_tolerance,
                      identical_to_champion),
        calibration(candidate.brier, champion.brier if champion else None, config.brier_tolerance,
                    config.brier_max),
        data_drift(drift_share, config.drift_share_max),
        segment_consistency(
            candidate.segment_f1,
            f1_floor=config.segment_f1_floor,
            gap_max=config.segment_f1_gap_max,
            min_rows=config.min_segment_rows,
            min_positives=config.min_segment_positives,
        ),
    ]
    failed = [g for g in gates if not g.passed]
    if failed:
        reasoning = "reject: failed gates " + ", ".join(g.name for g in failed) + " — " + "; ".join(
            f"{g.name}: {g.reason}" for g in failed
        )
        return Decision(action="reject", gates=gates, reasoning=reasoning)
    bootstrap = " (bootstrap: no champion)" if champion is None else ""
    return Decision(action="promote", gates=gates, reasoning=f"promote: all {len(gates)} gates passed{bootstrap}")


def gate_results_json(decision: Decision) -> dict[str, dict[str, Any]]:
    """``{gate: {passed, value, threshold, reason}}`` in gate order (the gate_results jsonb shape)."""
    out: dict[str, dict[str, Any]] = {}
    for gate in decision.gates:
        data = gate.to_dict()
        out[gate.name] = {k: data[k] for k in ("passed", "value", "threshold", "reason")}
    return out
