"""The served-prediction monitoring of a model family: the serving API's prediction log back in the graph.

:func:`build_served_asset` turns a :class:`~storeml_assets.lifecycle.family.ModelFamily` into its
asset (``monitoring/served_predictions`` for purchase propensity, ``monitoring/<name>_served`` for the
others). It reads ``mlops.predictions`` of the family over a trailing window (default 24 hours) and
writes to ``mlops.monitoring_metrics``:

- ``performance``: ``served_volume`` (predicted rows in the window), ``served_latency_p50/p95/p99`` (ms,
  one latency per request);
- ``drift``: ``served_drift_score:<column>`` and ``served_drift_share``: the served inputs against the
  champion's training rows (the family's drift columns, :func:`storeml_assets.ml.drift.drift_summary`
  with its minimum-rows rule); named apart from ``drift_share`` so the retraining sensor's drift trigger
  keeps reading the feature drift asset;
- ``coverage``: ``served_score_psi`` / ``served_score_wasserstein`` (served scores against the previous
  window's), ``served_score_mean``, ``served_class_share:<class>`` and ``served_class_mix_shift`` (total
  variation distance of the predicted-class mix against the previous window's).

With no prediction in the window the asset writes a ``served_volume`` row of 0 and its metadata says
"no served predictions in the window". The figures are plain functions (:func:`served_figures`).

:func:`build_generic_served_asset` does the same for a family in its own terms
(:class:`~storeml_assets.lifecycle.generic.GenericFamily`, ``monitoring/<name>_served``): volume, latency
percentiles and the mix of its served class (:attr:`~storeml_assets.lifecycle.generic.GenericFamily.served_class`:
the sentiment, the segment, the recommendations' source) against the previous window, and, for a family
that declares :attr:`~storeml_assets.lifecycle.generic.GenericFamily.served_inputs` (segmentation: the
customer features; sentiment: the texts' lengths), served-input drift against its training data
(``served_drift_share``, which the retraining sensor acts on). Families asked by ids or series names
(recommendations, forecasts) have no served feature distribution to compare.
"""

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import sqlalchemy as sa
from pydantic import Field

from storeml_assets import mlops
from storeml_assets.io.pg_tables import qualified
from storeml_assets.keys import MONITORING_GROUP
from storeml_assets.lifecycle.family import ModelFamily
from storeml_assets.lifecycle.generic import GenericFamily, ServedInputs
from storeml_assets.ml.drift import MIN_DRIFT_ROWS, DriftSummary, drift_summary
from storeml_assets.ml.gates import GateConfig
from storeml_assets.monitoring import metrics
from storeml_assets.monitoring.metrics import COVERAGE, DRIFT, MetricRow
from storeml_assets.resources.postgres import PostgresResource

NO_PREDICTIONS = "no served predictions in the window"
PERFORMANCE = "performance"
SERVED_PREFIX = "served_"


class ServedWindowConfig(dg.Config):
    """Knobs of the served-prediction monitoring of a family in its own terms: the window read."""

    window_hours: int = Field(default=24, description="Trailing window of the prediction log read, in hours.")
    window_end: str | None = Field(default=None, description="ISO date-time the window ends at; default: now.")


class ServedPredictionsConfig(ServedWindowConfig):
    """Knobs of the served-prediction monitoring."""

    drift_share_threshold: float = Field(
        default=GateConfig().drift_share_max,
        description="Served-input drift when the share of drifted columns reaches this (gate data_drift's maximum).",
    )
    min_rows: int = Field(
        default=MIN_DRIFT_ROWS,
        description="Fewer served or training rows than this: no served-input drift verdict.",
    )


@dataclass(frozen=True)
class ServedFigures:
    """What the prediction log of one window says."""

    volume: int
    requests: int = 0
    versions: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    drift: DriftSummary | None = None
    score_mean: float | None = None
    score_psi: float | None = None
    score_wasserstein: float | None = None
    class_mix: dict[str, float] = field(default_factory=dict)
    class_mix_shift: float | None = None

    @property
    def verdict(self) -> str:
        if self.volume == 0:
            return NO_PREDICTIONS
        drift = self.drift.reason if self.drift is not None else "served-input drift not compared"
        return f"{self.volume} served predictions; {drift}"


def _scores(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    values = [r["output"].get("score") for r in rows if isinstance(r.get("output"), Mapping)]
    arr = np.asarray([v for v in values if isinstance(v, int | float) and not isinstance(v, bool)], dtype=float)
    return arr[np.isfinite(arr)]


def _labels(output: Any, key: str) -> list[str]:
    """The ``key`` values of a logged output: its own, or its rows' (a request logged as one prediction)."""
    if not isinstance(output, Mapping):
        return []
    if key in output:
        return [str(output[key])]
    rows = output.get("rows")
    if isinstance(rows, list):
        return [str(row[key]) for row in rows if isinstance(row, Mapping) and key in row]
    return []


def _class_mix(rows: Sequence[Mapping[str, Any]], key: str = "prediction") -> dict[str, float]:
    counts = Counter(label for r in rows for label in _labels(r.get("output"), key))
    total = sum(counts.values())
    return {label: count / total for label, count in sorted(counts.items())} if total else {}


def served_figures(
    current: Sequence[Mapping[str, Any]],
    previous: Sequence[Mapping[str, Any]],
    reference: pd.DataFrame | None,
    *,
    columns: Sequence[str],
    drift_share_threshold: float,
    min_rows: int = MIN_DRIFT_ROWS,
    class_key: str | None = "prediction",
    derive: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> ServedFigures:
    """Volume, latency percentiles, served-input drift against ``reference`` (the champion's training rows;
    None: not compared) and score/class-mix shift against ``previous`` (the window before); the class of an
    output is its ``class_key`` value (or its rows', when a request was logged as one prediction; None: no
    class mix); ``derive`` turns the served inputs into the compared columns (``reference`` has them already)."""
    if not current:
        return ServedFigures(volume=0)
    # one latency per request (every row of a request logs the request's latency)
    per_request: dict[Any, float] = {}
    for index, r in enumerate(current):
        if r.get("latency_ms") is not None:
            per_request.setdefault(r.get("request_id") or ("row", index), float(r["latency_ms"]))
    latencies = np.asarray(list(per_request.values()), dtype=float)
    latency = ({f"p{q}": float(np.percentile(latencies, q)) for q in (50, 95, 99)} if latencies.size else {})
    versions = dict(sorted(Counter(str(r.get("model_version")) for r in current).items()))

    summary: DriftSummary | None = None
    if reference is not None:
        compared = [c for c in columns if c in reference.columns]
        served = pd.DataFrame.from_records([r["input"] for r in current if isinstance(r.get("input"), Mapping)])
        if derive is not None and not served.empty:
            served = derive(served)
        compared = [c for c in compared if c in served.columns]
        if compared:
            summary = drift_summary(reference[compared].reset_index(drop=True), served[compared],
                                    columns=compared, drift_share_threshold=drift_share_threshold, min_rows=min_rows)

    scores, before = _scores(current), _scores(previous)
    mix, mix_before = ((_class_mix(current, class_key), _class_mix(previous, class_key)) if class_key
                       else ({}, {}))
    psi = wasserstein = shift = None
    if scores.size and before.size:
        psi = metrics.population_stability_index(before, scores)
        wasserstein = metrics.wasserstein_distance(before, scores)
    if mix and mix_before:
        labels = set(mix) | set(mix_before)
        shift = 0.5 * sum(abs(mix.get(c, 0.0) - mix_before.get(c, 0.0)) for c in labels)
    return ServedFigures(
        volume=len(current), requests=len(per_request), versions=versions, latency_ms=latency, drift=summary,
        score_mean=float(scores.mean()) if scores.size else None, score_psi=psi, score_wasserstein=wasserstein,
        class_mix=mix, class_mix_shift=shift,
    )


def served_metric_rows(figures: ServedFigures, *, model_name: str, model_version: str | None,
                       context: Mapping[str, Any]) -> list[MetricRow]:
    """The ``mlops.monitoring_metrics`` rows of ``figures`` (see the module doc)."""
    meta = {**context, "verdict": figures.verdict, "versions": figures.versions, "requests": figures.requests}
    rows = [MetricRow(PERFORMANCE, f"{SERVED_PREFIX}volume", float(figures.volume), model_name, model_version, meta)]
    rows += [MetricRow(PERFORMANCE, f"{SERVED_PREFIX}latency_{q}", v, model_name, model_version, dict(context))
             for q, v in figures.latency_ms.items()]
    if figures.drift is not None:
        for name, col in figures.drift.columns.items():
            rows.append(MetricRow(DRIFT, f"{SERVED_PREFIX}drift_score:{name}", col.score, model_name, model_version,
                                  {**context, **col.to_dict()}))
        rows.append(MetricRow(DRIFT, f"{SERVED_PREFIX}drift_share", figures.drift.drift_share, model_name,
                              model_version, {**context, "verdict": figures.drift.reason,
                                              "drifted_columns": figures.drift.drifted_columns,
                                              "reference_rows": figures.drift.reference_rows,
                                              "current_rows": figures.drift.current_rows}))
    for name, value in (("score_mean", figures.score_mean), ("score_psi", figures.score_psi),
                        ("score_wasserstein", figures.score_wasserstein),
                        ("class_mix_shift", figures.class_mix_shift)):
        if value is not None:
            rows.append(MetricRow(COVERAGE, f"{SERVED_PREFIX}{name}", value, model_name, model_version,
                                  {**context, "compared_with": "previous window"}))
    rows += [MetricRow(COVERAGE, f"{SERVED_PREFIX}class_share:{label}", share, model_name, model_version,
                       dict(context)) for label, share in figures.class_mix.items()]
    return rows


def _window_end(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"window_end {value!r} is not an ISO date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _training_rows(storeml_db: PostgresResource, family: ModelFamily, columns: Sequence[str],
                   cutoffs: Sequence[datetime]) -> pd.DataFrame | None:
    """The champion's training rows (``split = 'train'``, at its training cutoffs when known) of the
    family's training set table, ``columns`` only; None when the table is not there."""
    from storeml_assets.features.training import CUTOFF, SPLIT, TRAIN

    schema, table = family.training_set_key.path[0], family.training_set_key.path[-1]
    exists = storeml_db.read_sql("select to_regclass(:name) is not null as found",
                                 {"name": qualified(schema, table)})
    if not bool(exists["found"].iloc[0]):
        return None
    select = ", ".join(f'"{c}"' for c in columns)
    query = f"select {select} from {qualified(schema, table)} where \"{SPLIT}\" = :split"
    params: dict[str, Any] = {"split": TRAIN}
    if cutoffs:
        query += f" and cast(\"{CUTOFF}\" as date) = any(cast(:cutoffs as date[]))"
        params["cutoffs"] = [c.date().isoformat() for c in cutoffs]
    return storeml_db.read_sql(query, params)


def _float_meta(value: float | None) -> dg.MetadataValue:
    return (dg.MetadataValue.float(float(value)) if value is not None and math.isfinite(value)
            else dg.MetadataValue.text("n/a"))


def build_served_asset(family: ModelFamily) -> dg.AssetsDefinition:
    """The family's served-prediction monitoring asset over the serving API's prediction log."""

    @dg.asset(
        key=family.served_key,
        group_name=MONITORING_GROUP,
        deps=[family.training_set_key],
        kinds={"postgres"},
        owners=["team:ml"],
        code_version="1",
        description=f"What the serving API answered for {family.name}: prediction volume, latency percentiles, "
        "served-input drift against the champion's training rows and score/class-mix shift, from mlops.predictions.",
    )
    def served_predictions(
        context: dg.AssetExecutionContext, config: ServedPredictionsConfig, storeml_db: PostgresResource
    ) -> dg.MaterializeResult:
        return _served_predictions(context, config, storeml_db, family)

    return served_predictions


def _read_window(config: ServedWindowConfig, storeml_db: PostgresResource, name: str) -> tuple[
        datetime, datetime, list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None]:
    """(start, end, the window's predictions of family ``name``, the previous window's, its champion row)."""
    if config.window_hours < 1:
        raise ValueError(f"window_hours must be at least 1, got {config.window_hours}")
    end = _window_end(config.window_end)
    start = end - timedelta(hours=config.window_hours)
    with storeml_db.connect() as conn:
        current = mlops.predictions_between(conn, name, start, end)
        previous = mlops.predictions_between(conn, name, start - timedelta(hours=config.window_hours), start)
        champion = mlops.champion_of(conn, name)
    return start, end, current, previous, champion


def _record(context: dg.AssetExecutionContext, config: ServedWindowConfig, storeml_db: PostgresResource, name: str,
            figures: ServedFigures, window: tuple[datetime, datetime], champion: Mapping[str, Any] | None,
            extra: Mapping[str, Any] | None = None) -> dg.MaterializeResult:
    """Write the window's figures to mlops.monitoring_metrics, log the verdict, return the metadata."""
    start, end = window
    version = str(champion["model_version"]) if champion else None
    row_context = {"window_start": start.isoformat(), "window_end": end.isoformat(),
                   "window_hours": config.window_hours, "dagster_run_id": context.run.run_id, **(extra or {})}
    rows = served_metric_rows(figures, model_name=name, model_version=version, context=row_context)
    with storeml_db.connect() as conn:
        ids = mlops.insert_metrics(conn, rows)
    context.log.info(f"{name}: {figures.verdict} ({start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC)")
    return dg.MaterializeResult(metadata=_metadata(figures, start, end, version, ids))


def _served_predictions(context: dg.AssetExecutionContext, config: ServedPredictionsConfig,
                        storeml_db: PostgresResource, family: ModelFamily) -> dg.MaterializeResult:
    from storeml_assets.monitoring.drift import train_cutoffs

    start, end, current, previous, champion = _read_window(config, storeml_db, family.name)
    columns = [c for c in family.drift_columns if c in family.signature]
    reference = None
    if current and columns:
        cutoffs = train_cutoffs(champion["metadata"]) if champion else []
        reference = _training_rows(storeml_db, family, columns, cutoffs)
    figures = served_figures(current, previous, reference, columns=columns,
                             drift_share_threshold=config.drift_share_threshold, min_rows=config.min_rows)
    return _record(context, config, storeml_db, family.name, figures, (start, end), champion)


def _metadata(figures: ServedFigures, start: datetime, end: datetime, version: str | None,
              ids: Sequence[int]) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "verdict": dg.MetadataValue.text(figures.verdict),
        "served_volume": dg.MetadataValue.int(figures.volume),
        "served_requests": dg.MetadataValue.int(figures.requests),
        "window_start": dg.MetadataValue.text(start.isoformat()),
        "window_end": dg.MetadataValue.text(end.isoformat()),
        "served_versions": dg.MetadataValue.json(figures.versions),
        "champion_version": dg.MetadataValue.text(version or "none"),
        "monitoring_metric_ids": dg.MetadataValue.json(ids),
    }
    for q, value in figures.latency_ms.items():
        meta[f"latency_{q}_ms"] = dg.MetadataValue.float(value)
    if figures.drift is not None:
        meta["served_drift_share"] = _float_meta(figures.drift.drift_share)
        meta["served_drift_verdict"] = dg.MetadataValue.text(figures.drift.reason)
        meta["served_drifted_columns"] = dg.MetadataValue.json(figures.drift.drifted_columns)
        meta["column_scores"] = dg.MetadataValue.md(metrics.drift_markdown(figures.drift))
    if figures.volume:
        meta["score_mean"] = _float_meta(figures.score_mean)
        meta["score_psi"] = _float_meta(figures.score_psi)
        meta["class_mix"] = dg.MetadataValue.json(figures.class_mix)
        meta["class_mix_shift"] = _float_meta(figures.class_mix_shift)
    return meta


def build_generic_served_asset(family: GenericFamily) -> dg.AssetsDefinition:
    """The served-prediction monitoring asset of a family in its own terms (see the module doc)."""
    mix = f"{family.served_class} mix shift" if family.served_class else "no class mix"
    drift = "served-input drift against its training data, " if family.served_inputs else ""

    @dg.asset(
        key=family.served_key,
        group_name=MONITORING_GROUP,
        deps=[family.promotion_key],
        kinds={"postgres"},
        owners=["team:ml"],
        code_version="1",
        description=f"What the serving API answered for {family.name}: prediction volume, latency percentiles, "
        f"{drift}{mix} against the previous window, from mlops.predictions.",
    )
    def served_predictions(
        context: dg.AssetExecutionContext, config: ServedPredictionsConfig, storeml_db: PostgresResource
    ) -> dg.MaterializeResult:
        return _generic_served(context, config, storeml_db, family)

    return served_predictions


def _served_reference(storeml_db: PostgresResource, served: ServedInputs) -> pd.DataFrame | None:
    """The family's reference rows, derived into the compared columns; None when a table it reads is missing."""
    try:
        reference = storeml_db.read_sql(served.reference_sql)
    except sa.exc.ProgrammingError as exc:
        if "does not exist" not in str(exc):
            raise
        return None
    return served.derive(reference) if served.derive is not None else reference


def _generic_served(context: dg.AssetExecutionContext, config: ServedPredictionsConfig, storeml_db: PostgresResource,
                    family: GenericFamily) -> dg.MaterializeResult:
    start, end, current, previous, champion = _read_window(config, storeml_db, family.name)
    served = family.served_inputs
    reference = _served_reference(storeml_db, served) if served is not None and current else None
    figures = served_figures(current, previous, reference, columns=served.columns if served else (),
                             drift_share_threshold=config.drift_share_threshold, min_rows=config.min_rows,
                             class_key=family.served_class, derive=served.derive if served else None)
    extra = {"class_column": family.served_class} if family.served_class else {}
    return _record(context, config, storeml_db, family.name, figures, (start, end), champion, extra)
