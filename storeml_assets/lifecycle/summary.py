"""One line per model family for run and demo summaries: version, headline metrics beside the baselines and the
oracle, and the decision — or why the family was skipped.

    purchase_propensity v3  f1 0.612  roc_auc 0.861 (oracle 0.902)                       promote
    review_sentiment    v2  macro_f1 0.801 (majority 0.215, unigram 0.772, oracle 0.826)  promote
    recommendations     skipped: user_interactions has 0 rows < 1000 (recommendations need interactions)
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dagster as dg
from sqlalchemy.engine import Connection

from storeml_assets import mlops
from storeml_assets.lifecycle.family import ModelFamily
from storeml_assets.lifecycle.generic import GenericFamily
from storeml_assets.lifecycle.registry import FAMILIES, GENERIC_FAMILIES

#: Metrics shown per family, headline first (generic families: their primary metric and the next one).
_CLASSIC_METRICS = ("f1", "roc_auc")


@dataclass(frozen=True)
class FamilyLine:
    """What the summary says about one family."""

    family: str
    version: str | None
    metrics: str
    decision: str
    #: "drift 0.17" (the family's newest drift share in the period), or "".
    drift: str = ""

    def text(self, width: int = 20) -> str:
        if self.version is None:
            return f"{self.family:<{width}} {self.decision}"
        drift = f"  {self.drift}" if self.drift else ""
        return f"{self.family:<{width}} v{self.version:<3} {self.metrics}  {self.decision}{drift}"


def _fmt(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return f"{number:.3f}" if math.isfinite(number) else "n/a"


def _metric_text(name: str, metrics: Mapping[str, Any], baselines: Mapping[str, Mapping[str, Any]],
                 oracle: Mapping[str, Any] | None) -> str:
    beside = [f"{b} {_fmt(v[name])}" for b, v in baselines.items() if name in v]
    if oracle and name in oracle:
        beside.append(f"oracle {_fmt(oracle[name])}")
    return f"{name} {_fmt(metrics.get(name))}" + (f" ({', '.join(beside)})" if beside else "")


def skipped_reason(instance: dg.DagsterInstance, key: dg.AssetKey, since: datetime) -> str | None:
    """The reason of the newest "skipped" observation of a candidate asset since ``since``, or None."""
    records = instance.fetch_observations(key, limit=1).records
    if not records or records[0].timestamp < since.timestamp():
        return None
    observation = records[0].asset_observation
    value = observation.metadata.get("skipped") if observation else None
    return None if value is None else str(value.value)


def family_lines(conn: Connection, instance: dg.DagsterInstance | None, since: datetime, *,
                 classic: Sequence[ModelFamily] = FAMILIES,
                 generic: Sequence[GenericFamily] = GENERIC_FAMILIES) -> list[FamilyLine]:
    """One :class:`FamilyLine` per family (default: every registered one) for what happened at or after ``since``."""
    attempts = mlops.newest_attempts_since(conn, since)
    lines: list[FamilyLine] = []
    for family in classic:
        row = attempts.get(family.name)
        if row is None:
            lines.append(FamilyLine(family.name, None, "", "not trained in this run"))
            continue
        meta = row["metadata"] or {}
        metrics = meta.get("metrics") or {}
        oracle = meta.get("oracle") or {}
        shown = [_metric_text(m, metrics, {}, None) for m in _CLASSIC_METRICS]
        if oracle.get("available"):
            shown[-1] += f" (oracle {_fmt(oracle.get('oracle_roc_auc'))})"
        lines.append(FamilyLine(family.name, str(row["model_version"]), "  ".join(shown),
                                row["action"] or "no decision yet"))
    for other in generic:
        row = attempts.get(other.name)
        skipped = skipped_reason(instance, other.model_key, since) if instance is not None else None
        if row is None:
            lines.append(FamilyLine(other.name, None, "",
                                    f"skipped: {skipped}" if skipped else "not trained in this run"))
            continue
        evaluation = (row["metadata"] or {}).get("evaluation") or {}
        names: Sequence[str] = [other.primary_metric, *[m for m in other.metrics if m != other.primary_metric]][:2]
        shown = [_metric_text(m, evaluation.get("metrics") or {}, evaluation.get("baselines") or {},
                              evaluation.get("oracle")) for m in names]
        drift = mlops.drift_since(conn, since, other.name)
        share = drift.get("metric_value") if drift else None
        lines.append(FamilyLine(other.name, str(row["model_version"]), "  ".join(shown),
                                row["action"] or "no decision yet",
                                f"drift {_fmt(share)}" if drift else ""))
    return lines
