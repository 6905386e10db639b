"""Monitoring figures as plain functions: drift and coverage rows, score shift, retraining triggers.

Nothing here knows Dagster, MLflow or Postgres: the asset, the sensor and the CLI call these
functions with figures they read, and write what these functions return.

Rows for the mlops ``monitoring_metrics`` table (:class:`MetricRow`):

- ``drift``: ``drift_score:<column>`` per column (metadata: stattest, threshold, drifted, column
  type) and the summary ``drift_share`` (metadata: drifted columns, cutoffs, row counts).
- ``coverage``: ``scored_share`` (share of active customers the champion scored),
  ``score_psi`` and ``score_wasserstein`` (champion score distribution, reference vs current),
  ``score_mean_reference`` / ``score_mean_current``.
- ``trigger``: ``trigger:<kind>`` written by the retraining sensor when it requests a run.

(The served-predictions asset writes ``served_drift_share`` rows of type ``drift``: the served inputs
against the champion's training data; the sensor reads them as the ``served_drift`` trigger.)

Retraining triggers (:func:`evaluate_triggers`). New data is data the newest training attempt
(promoted, rejected or awaiting its decision) did not see: each attempt records its data basis (the
newest ``raw.orders.ordered_at`` and the order count it saw, its code version and the fingerprint of
the thresholds that launched it). While the orders, the code version and the thresholds are those of
the newest attempt, nothing fires, whatever the triggers say. Otherwise:

- ``drift``: a ``drift_share`` row newer than the cursor's is above the threshold.
- ``served_drift``: a ``served_drift_share`` row newer than the cursor's is above the same threshold
  (a null share, "not enough served rows", never fires).
- ``new_data``: orders after the newest attempt's high-water mark exceed the share of its training rows.
- ``model_age``: the champion (its ``created_at``, i.e. training time) is older than N days.
- ``bootstrap``: no champion while raw orders exist.

The run they request has the data state as its run key (``retrain:<hwm>:<orders>:code<v>:cfg<fp>``),
so one data state gets one run, across ticks, trigger kinds and daemon restarts (Dagster skips a
run key it has already seen); each trigger's own key is ``<kind>[:<drift row id>]@<run key>``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from storeml_assets import markdown
from storeml_assets.features.training import TRIGGER_CONFIG_TAG, DataBasis
from storeml_assets.jsonsafe import to_json
from storeml_assets.ml.drift import DriftSummary
from storeml_assets.timeutil import as_utc

DRIFT = "drift"
COVERAGE = "coverage"
TRIGGER = "trigger"
DRIFT_SHARE_METRIC = "drift_share"
SERVED_DRIFT_SHARE_METRIC = "served_drift_share"
DRIFT_SCORE_PREFIX = "drift_score:"
TRIGGER_PREFIX = "trigger:"
SCORED_SHARE_METRIC = "scored_share"
SCORE_PSI_METRIC = "score_psi"
SCORE_WASSERSTEIN_METRIC = "score_wasserstein"

TRIGGER_KINDS = ("bootstrap", "drift", "served_drift", "new_data", "model_age")


@dataclass(frozen=True)
class MetricRow:
    """One row of the mlops ``monitoring_metrics`` table (id and timestamps are the database's)."""

    metric_type: str
    metric_name: str
    metric_value: float | None
    model_name: str | None = None
    model_version: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.metric_type not in (DRIFT, COVERAGE, "performance", TRIGGER):
            raise ValueError(f"unknown metric_type {self.metric_type!r}")

    def params(self) -> dict[str, Any]:
        """Bind parameters for an insert (metadata as JSON text)."""
        return {
            "metric_type": self.metric_type,
            "metric_name": self.metric_name,
            "metric_value": _finite(self.metric_value),
            "model_name": self.model_name,
            "model_version": self.model_version,
            "metadata": to_json(self.metadata, sort_keys=True),
        }


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# --- drift ---------------------------------------------------------------------------------------


def drift_metric_rows(
    summary: DriftSummary,
    *,
    model_name: str | None = None,
    model_version: str | None = None,
    context: dict[str, Any] | None = None,
) -> list[MetricRow]:
    """One ``drift_score:<column>`` row per column and a ``drift_share`` summary row."""
    extra = dict(context or {})
    rows = [
        MetricRow(
            DRIFT,
            f"{DRIFT_SCORE_PREFIX}{name}",
            col.score,
            model_name,
            model_version,
            {
                "column": name,
                "column_type": col.column_type,
                "stattest": col.stattest,
                "threshold": col.threshold,
                "drifted": col.drifted,
                **extra,
            },
        )
        for name, col in summary.columns.items()
    ]
    rows.append(
        MetricRow(
            DRIFT,
            DRIFT_SHARE_METRIC,
            summary.drift_share,
            model_name,
            model_version,
            {
                "drifted_columns": list(summary.drifted_columns),
                "drifted_count": summary.drifted_count,
                "column_count": summary.column_count,
                "dataset_drift": summary.dataset_drift,
                "drift_share_threshold": summary.drift_share_threshold,
                "reference_rows": summary.reference_rows,
                "current_rows": summary.current_rows,
                "html_path": str(summary.html_path) if summary.html_path else None,
                **extra,
            },
        )
    )
    return rows


def drift_markdown(summary: DriftSummary) -> str:
    """Per-column scores as a markdown table, drifted columns first, then by score."""
    ordered = sorted(summary.columns.values(), key=lambda c: (not c.drifted, -c.score, c.column))
    rows = [(c.column, c.stattest, f"{c.score:.4f}", f"{c.threshold:g}", "**yes**" if c.drifted else "no")
            for c in ordered]
    return markdown.table(rows, ["column", "stattest", "score", "threshold", "drifted"], right=["score", "threshold"])


# --- coverage and score shift --------------------------------------------------------------------


def population_stability_index(reference: Sequence[float] | np.ndarray, current: Sequence[float] | np.ndarray,
                               *, bins: int = 10, epsilon: float = 1e-4) -> float:
    """PSI of ``current`` against ``reference`` on reference-quantile bins (0 = same distribution).

    Rules of thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 large shift.
    """
    ref = _clean(reference, "reference")
    cur = _clean(current, "current")
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    edges = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, bins + 1)))
    if len(edges) < 2:  # a constant reference: one bin for "equal", one for "different"
        same_ref = 1.0
        same_cur = float(np.mean(np.isclose(cur, ref[0])))
        ref_share = np.array([same_ref, 0.0])
        cur_share = np.array([same_cur, 1.0 - same_cur])
    else:
        inner = edges[1:-1]
        ref_share = np.bincount(np.searchsorted(inner, ref, side="right"), minlength=len(edges) - 1) / len(ref)
        cur_share = np.bincount(np.searchsorted(inner, cur, side="right"), minlength=len(edges) - 1) / len(cur)
    ref_share = np.clip(ref_share, epsilon, None)
    cur_share = np.clip(cur_share, epsilon, None)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def wasserstein_distance(reference: Sequence[float] | np.ndarray, current: Sequence[float] | np.ndarray) -> float:
    """Wasserstein-1 distance between two samples (in score units)."""
    from scipy.stats import wasserstein_distance as _w

    return float(_w(_clean(reference, "reference"), _clean(current, "current")))


def _clean(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype="float64")
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        raise ValueError(f"the {name} scores are empty (or all non-finite)")
    return arr


@dataclass(frozen=True)
class CoverageFigures:
    """What the champion scored on the current window, and how its scores moved."""

    active_customers: int
    scored_customers: int
    score_psi: float | None
    score_wasserstein: float | None
    score_mean_reference: float | None
    score_mean_current: float | None

    @property
    def scored_share(self) -> float:
        return self.scored_customers / self.active_customers if self.active_customers else 0.0


def coverage_figures(reference_scores: np.ndarray | None, current_scores: np.ndarray,
                     active_customers: int) -> CoverageFigures:
    """Coverage (finite scores among the active customers) and the reference-vs-current score shift."""
    current = np.asarray(current_scores, dtype="float64")
    scored = int(np.count_nonzero(np.isfinite(current)))
    psi = wass = ref_mean = None
    cur_mean = float(np.nanmean(current)) if scored else None
    if reference_scores is not None and scored:
        ref = np.asarray(reference_scores, dtype="float64")
        if np.isfinite(ref).any():
            psi = population_stability_index(ref, current)
            wass = wasserstein_distance(ref, current)
            ref_mean = float(np.nanmean(ref))
    return CoverageFigures(active_customers, scored, psi, wass, ref_mean, cur_mean)


def coverage_metric_rows(figures: CoverageFigures, *, model_name: str | None, model_version: str | None,
                         context: dict[str, Any] | None = None) -> list[MetricRow]:
    """``coverage`` rows: scored share, score PSI and Wasserstein, and the mean scores."""
    extra = dict(context or {})
    base = {"active_customers": figures.active_customers, "scored_customers": figures.scored_customers, **extra}
    rows = [MetricRow(COVERAGE, SCORED_SHARE_METRIC, figures.scored_share, model_name, model_version, base)]
    for name, value in (
        (SCORE_PSI_METRIC, figures.score_psi),
        (SCORE_WASSERSTEIN_METRIC, figures.score_wasserstein),
        ("score_mean_reference", figures.score_mean_reference),
        ("score_mean_current", figures.score_mean_current),
    ):
        if value is not None:
            rows.append(MetricRow(COVERAGE, name, value, model_name, model_version, extra))
    return rows


# --- windows -------------------------------------------------------------------------------------


def day_start(value: datetime | date) -> datetime:
    """Midnight UTC of the day ``value`` falls on."""
    if isinstance(value, datetime):
        value = as_utc(value).date()
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def latest_cutoff(orders: pl.DataFrame, column: str = "ordered_at") -> datetime:
    """The cutoff just after the newest order: midnight UTC of the day after it."""
    if column not in orders.columns:
        raise ValueError(f"orders frame has no column {column!r}")
    newest = orders.get_column(column).max()
    if newest is None:
        raise ValueError("no orders: cannot place the current window")
    if isinstance(newest, date) and not isinstance(newest, datetime):
        newest = datetime(newest.year, newest.month, newest.day)
    if not isinstance(newest, datetime):
        raise ValueError(f"orders.{column} is not a timestamp column (latest value {newest!r})")
    return day_start(newest) + timedelta(days=1)


def reference_cutoff(current: datetime, champion_cutoff: datetime | None, window_days: int) -> datetime:
    """The champion's training cutoff, else the window just before the current one."""
    if window_days < 1:
        raise ValueError(f"window_days must be at least 1, got {window_days}")
    if champion_cutoff is not None:
        return as_utc(champion_cutoff)
    return as_utc(current) - timedelta(days=window_days)


# --- retraining triggers -------------------------------------------------------------------------


@dataclass(frozen=True)
class TriggerConfig:
    """Thresholds of the retraining sensor."""

    drift_share_threshold: float = 0.3
    new_orders_share: float = 0.5
    max_model_age_days: int = 30
    bootstrap: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.drift_share_threshold <= 1.0:
            raise ValueError(f"drift_share_threshold must be in (0, 1], got {self.drift_share_threshold!r}")
        if self.new_orders_share <= 0:
            raise ValueError(f"new_orders_share must be positive, got {self.new_orders_share!r}")
        if self.max_model_age_days < 1:
            raise ValueError(f"max_model_age_days must be at least 1, got {self.max_model_age_days!r}")

    def fingerprint(self) -> str:
        """A short stable digest of the thresholds (recorded on the attempts the sensor launches)."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class DriftObservation:
    """The newest ``drift_share`` row."""

    metric_id: int
    drift_share: float
    timestamp: datetime | None = None
    model_version: str | None = None


@dataclass(frozen=True)
class ServedDriftObservation:
    """The newest ``served_drift_share`` row: served inputs against the champion's training data
    (``drift_share`` None: too few served rows to compare)."""

    metric_id: int
    drift_share: float | None
    timestamp: datetime | None = None
    model_version: str | None = None


@dataclass(frozen=True)
class ChampionState:
    """The production row of the mlops ``model_versions`` table."""

    model_name: str
    model_version: str
    mlflow_run_id: str
    training_rows: int | None
    training_window_end: datetime | None
    created_at: datetime | None
    promoted_at: datetime | None = None
    #: The last cutoff whose features trained the model (the drift reference), when recorded.
    training_cutoff: datetime | None = None


@dataclass(frozen=True)
class AttemptState:
    """The newest training attempt of the model (its newest mlops ``model_versions`` row, promoted,
    rejected or awaiting its decision): new data is data it did not see."""

    model_name: str
    model_version: str
    status: str
    training_rows: int | None
    #: What it saw; None for a version trained before data bases were recorded.
    basis: DataBasis | None
    #: Its training window's end: the high-water mark assumed when no basis was recorded.
    training_window_end: datetime | None = None

    @property
    def high_water_mark(self) -> datetime | None:
        return self.basis.data_hwm if self.basis is not None else self.training_window_end


@dataclass(frozen=True)
class MonitoringState:
    """Everything the sensor reads before deciding."""

    now: datetime
    latest_drift: DriftObservation | None
    champion: ChampionState | None
    #: Orders placed after the newest attempt's high-water mark (None without an attempt or raw.orders).
    new_orders: int | None = None
    latest_order_at: datetime | None = None
    attempt: AttemptState | None = None
    #: Orders in raw.orders now (None without raw.orders).
    order_count: int | None = None
    #: Code version of the training as deployed now.
    code_version: str | None = None
    #: The newest ``served_drift_share`` row of the family (None: none written yet).
    latest_served_drift: ServedDriftObservation | None = None

    def current_basis(self, config: TriggerConfig) -> DataBasis:
        """The basis a training launched now would record."""
        return DataBasis(as_utc(self.latest_order_at) if self.latest_order_at else None, self.order_count,
                         self.code_version, config.fingerprint())


@dataclass(frozen=True)
class Trigger:
    """One reason to retrain, with its figures."""

    kind: str
    run_key: str
    value: float
    threshold: float
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)
    model_name: str | None = None
    model_version: str | None = None

    def metric_row(self) -> MetricRow:
        return MetricRow(
            TRIGGER,
            f"{TRIGGER_PREFIX}{self.kind}",
            self.value,
            self.model_name,
            self.model_version,
            {"run_key": self.run_key, "threshold": self.threshold, "reason": self.reason, **self.figures},
        )


@dataclass(frozen=True)
class SensorCursor:
    """What the sensor has already seen (stored as JSON in Dagster's cursor)."""

    drift_metric_id: int = 0
    fired: dict[str, str] = field(default_factory=dict)  # kind -> last trigger run key fired
    last_run_key: str = ""  # the run key of the last run requested
    served_drift_metric_id: int = 0  # the newest served_drift_share row seen

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | None) -> SensorCursor:
        """Parse a cursor; an empty cursor is a fresh start, a malformed one an error naming it."""
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            return cls(drift_metric_id=int(data.get("drift_metric_id", 0)),
                       fired={str(k): str(v) for k, v in dict(data.get("fired", {})).items()},
                       last_run_key=str(data.get("last_run_key", "") or ""),
                       served_drift_metric_id=int(data.get("served_drift_metric_id", 0)))
        except (ValueError, TypeError, AttributeError):
            raise ValueError(f"malformed retraining sensor cursor {raw[:80]!r}") from None


def basis_key(basis: DataBasis) -> str:
    """The run key of a retraining on ``basis``: one run per data state, code version and thresholds."""
    hwm = as_utc(basis.data_hwm).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if basis.data_hwm else "none"
    return f"retrain:{hwm}:{basis.orders_seen or 0}:code{basis.code_version or '-'}:cfg{basis.trigger_config or '-'}"


def unchanged_since_attempt(state: MonitoringState, config: TriggerConfig) -> str | None:
    """Why retraining now would repeat the newest attempt (same orders, same code version, same
    thresholds), or None when something changed or no attempt recorded what it saw.

    An attempt launched by hand records no threshold fingerprint: only data and code count then.
    """
    attempt = state.attempt
    if attempt is None or attempt.basis is None:
        return None
    seen, now = attempt.basis, state.current_basis(config)
    if not seen.same_data(now) or seen.code_version != now.code_version:
        return None
    if seen.trigger_config is not None and seen.trigger_config != now.trigger_config:
        return None
    return (f"no new data since the last training attempt v{attempt.model_version} ({attempt.status}; "
            f"HWM {seen.data_hwm:%Y-%m-%d %H:%M:%S}, {seen.orders_seen or 0:,} orders, code version "
            f"{seen.code_version or '-'})" if seen.data_hwm else
            f"no new data since the last training attempt v{attempt.model_version} ({attempt.status}; no orders)")


def evaluate_triggers(state: MonitoringState, cursor: SensorCursor,
                      config: TriggerConfig) -> tuple[list[Trigger], SensorCursor]:
    """The triggers that fire now, and the cursor to store (pure: same inputs, same answer).

    Nothing fires while the orders, the code version and the thresholds are those of the newest
    training attempt (:func:`unchanged_since_attempt`), whatever the drift, volume or age says; a
    newer drift row seen meanwhile only moves the cursor.
    """
    fired: list[Trigger] = []
    drift_id = cursor.drift_metric_id
    served_id = cursor.served_drift_metric_id
    remembered = dict(cursor.fired)
    champ = state.champion
    attempt = state.attempt
    name = champ.model_name if champ else (attempt.model_name if attempt else None)
    version = champ.model_version if champ else None
    drift = state.latest_drift
    if drift is not None and drift.metric_id > cursor.drift_metric_id:
        drift_id = drift.metric_id
    served = state.latest_served_drift
    if served is not None and served.metric_id > cursor.served_drift_metric_id:
        served_id = served.metric_id
    if unchanged_since_attempt(state, config) is not None:
        return [], SensorCursor(drift_metric_id=drift_id, fired=remembered, last_run_key=cursor.last_run_key,
                                served_drift_metric_id=served_id)
    basis = basis_key(state.current_basis(config))

    if champ is None and config.bootstrap and state.latest_order_at is not None:
        latest = as_utc(state.latest_order_at)
        reason = "no champion model yet" + (
            f" (attempt v{attempt.model_version} was {attempt.status})" if attempt is not None else "")
        fired.append(Trigger("bootstrap", f"bootstrap@{basis}", 1.0, 0.0, reason,
                             {"latest_order_at": latest.isoformat()}, name))

    if drift is not None and drift.metric_id > cursor.drift_metric_id and drift.drift_share > config.drift_share_threshold:
        fired.append(Trigger(
            "drift", f"drift:{drift.metric_id}@{basis}", drift.drift_share, config.drift_share_threshold,
            f"drift share {drift.drift_share:.3f} > {config.drift_share_threshold:.3f}",
            {"drift_metric_id": drift.metric_id,
             "measured_at": drift.timestamp.isoformat() if drift.timestamp else None},
            name, version,
        ))

    served_share = served.drift_share if served is not None else None
    if (served is not None and served_share is not None and served.metric_id > cursor.served_drift_metric_id
            and served_share > config.drift_share_threshold):
        fired.append(Trigger(
            "served_drift", f"served_drift:{served.metric_id}@{basis}", served_share, config.drift_share_threshold,
            f"served-input drift share {served_share:.3f} > {config.drift_share_threshold:.3f}",
            {"served_drift_metric_id": served.metric_id, "served_model_version": served.model_version,
             "measured_at": served.timestamp.isoformat() if served.timestamp else None},
            name, version,
        ))

    if attempt is not None and state.new_orders is not None and attempt.training_rows:
        ratio = state.new_orders / attempt.training_rows
        if ratio > config.new_orders_share:
            hwm = attempt.high_water_mark
            fired.append(Trigger(
                "new_data", f"new_data@{basis}", ratio, config.new_orders_share,
                f"{state.new_orders:,} new orders since attempt v{attempt.model_version} = {ratio:.2f} x its "
                f"{attempt.training_rows:,} training rows > {config.new_orders_share:g}",
                {"new_orders": state.new_orders, "training_rows": attempt.training_rows,
                 "attempt_version": attempt.model_version, "attempt_status": attempt.status,
                 "data_hwm": as_utc(hwm).isoformat() if hwm else None},
                attempt.model_name, attempt.model_version,
            ))

    if champ is not None and champ.created_at is not None:
        age_days = (as_utc(state.now) - as_utc(champ.created_at)).total_seconds() / 86_400
        if age_days > config.max_model_age_days:
            fired.append(Trigger(
                "model_age", f"model_age@{basis}", age_days, float(config.max_model_age_days),
                f"champion v{champ.model_version} is {age_days:.1f} days old > {config.max_model_age_days} "
                "and there is data it did not see",
                {"trained_at": as_utc(champ.created_at).isoformat()},
                name, version,
            ))

    if fired and basis == cursor.last_run_key:
        fired = []  # this data state already has its run
    for trig in fired:
        remembered[trig.kind] = trig.run_key
    return fired, SensorCursor(drift_metric_id=drift_id, fired=remembered,
                               last_run_key=basis if fired else cursor.last_run_key, served_drift_metric_id=served_id)


def served_drift_above(state: MonitoringState, config: TriggerConfig) -> str | None:
    """"served-input drift share X (row N) > T" when the newest served drift share is above the
    threshold, else None (none measured, a null share, or at most the threshold)."""
    served = state.latest_served_drift
    if served is None or served.drift_share is None or served.drift_share <= config.drift_share_threshold:
        return None
    return (f"served-input drift share {served.drift_share:.3f} (row {served.metric_id}) > "
            f"{config.drift_share_threshold:g}")


def combined_run_key(triggers: Sequence[Trigger]) -> str:
    """The run key of the run the triggers of one evaluation request: the data state they fire on
    (one run per orders, code version and thresholds, whatever the triggers say)."""
    keys = {t.run_key.partition("@")[2] for t in triggers}
    if len(keys) != 1 or "" in keys:
        raise ValueError(f"triggers of one evaluation must name one data state, got {sorted(keys)}")
    return keys.pop()


def trigger_tags(triggers: Sequence[Trigger], config: TriggerConfig | None = None) -> dict[str, str]:
    """Run tags naming each trigger and its figures (Dagster tag values are strings), and the
    fingerprint of the thresholds (:data:`TRIGGER_CONFIG_TAG`) the training records."""
    tags = {"storeml/trigger": ",".join(t.kind for t in triggers)}
    if config is not None:
        tags[TRIGGER_CONFIG_TAG] = config.fingerprint()
    for t in triggers:
        tags[f"storeml/trigger.{t.kind}.value"] = f"{t.value:.6g}"
        tags[f"storeml/trigger.{t.kind}.threshold"] = f"{t.threshold:.6g}"
        tags[f"storeml/trigger.{t.kind}.run_key"] = t.run_key
        metric_id = t.figures.get("drift_metric_id", t.figures.get("served_drift_metric_id"))
        if metric_id is not None:
            tags[f"storeml/trigger.{t.kind}.metric_id"] = str(metric_id)
    return tags
