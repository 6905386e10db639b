"""The drift monitoring of a model family: feature drift between its champion's training cutoffs and the latest window.

:func:`build_drift_asset` turns a :class:`~storeml_assets.lifecycle.family.ModelFamily` into its drift
asset (``monitoring/feature_drift`` for purchase propensity). The logic lives in
:mod:`storeml_assets.monitoring.metrics` (rows, score shift), :mod:`storeml_assets.features.customer`
(:func:`~storeml_assets.features.customer.customer_drift`: the family's drift columns over the active
customers, shared with the promotion gate ``data_drift``) and :mod:`storeml_assets.ml.drift` (the
Evidently report); this module only wires them. The asset reads the raw source tables the features
are built from (its declared inputs) and rebuilds the features at the cutoffs it compares.

The reference is the champion's training cutoffs, the same rows gate ``data_drift`` compared when
it promoted the champion, so a storefront that has not changed shows the same ~0 it showed then.
With too few rows on either side the ``drift_share`` row is written with no value and the verdict
"not enough data to judge drift (...)" in its metadata: nothing the retraining sensor could fire on.
"""

import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import mlflow
import numpy as np
import polars as pl
from pydantic import Field

from storeml_assets import mlops
from storeml_assets.features.customer import (
    CUSTOMER_ID,
    RAW_COLUMNS,
    active_customers,
    build_customer_features,
    customer_drift,
    load_raw_frames,
)
from storeml_assets.features.training import to_model_frame
from storeml_assets.keys import MONITORING_GROUP, raw_key
from storeml_assets.lifecycle.family import ModelFamily
from storeml_assets.ml.drift import MIN_DRIFT_ROWS
from storeml_assets.ml.gates import GateConfig
from storeml_assets.ml.mlflow_resource import MlflowTracking
from storeml_assets.ml.reports import markdown_table
from storeml_assets.monitoring import metrics, store
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.settings import get_settings


class FeatureDriftConfig(dg.Config):
    """Knobs of the feature drift report."""

    drift_share_threshold: float = Field(
        default=GateConfig().drift_share_max,
        description="Dataset drift when the share of drifted columns reaches this (gate data_drift's maximum).",
    )
    window_days: int = Field(default=30, description="Trailing window of the window features, in days.")
    min_rows: int = Field(
        default=MIN_DRIFT_ROWS,
        description="Fewer active customers than this on either side: no drift verdict (not enough data to judge drift).",
    )
    current_cutoff: str | None = Field(
        default=None, description="ISO date/time of the current cutoff; default: the day after the newest order."
    )
    reference_cutoff: str | None = Field(
        default=None,
        description="ISO date/time of the reference cutoff; default: the champion's training cutoffs, "
        "else window_days before the current cutoff.",
    )


def _parse(value: str | None) -> datetime | None:
    """An ISO date (midnight UTC) or date-time; None for None."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"cutoff {value!r} is not an ISO date or date-time") from None
    return metrics.day_start(moment) if len(value) == 10 else moment


def _markdown_preview(frame: pl.DataFrame) -> str:
    return markdown_table(frame.columns, ([f"{v:.4g}" if isinstance(v, float) else v for v in row]
                                          for row in frame.iter_rows()))


def _scores(family: ModelFamily, model: Any, features: pl.DataFrame) -> np.ndarray:
    """Champion probabilities for each customer row."""
    return np.asarray(family.score(model, to_model_frame(features.select(list(family.signature)))), dtype=float)


def train_cutoffs(metadata: Any) -> list[datetime]:
    """The training cutoffs a ``model_versions.metadata`` lists (``train_cutoffs``: comma-separated dates)."""
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    raw = metadata.get("train_cutoffs") if isinstance(metadata, dict) else None
    if not raw:
        return []
    values = raw if isinstance(raw, list | tuple) else str(raw).split(",")
    return [metrics.day_start(moment) for v in values if (moment := _parse(str(v).strip())) is not None]


def _history_start(orders: pl.DataFrame) -> datetime | None:
    """Midnight UTC of the day of the oldest order (the start of the history), None without orders."""
    oldest = orders.get_column("ordered_at").min() if "ordered_at" in orders.columns else None
    return metrics.day_start(oldest) if isinstance(oldest, datetime) else None


def _float_meta(value: float | None) -> dg.MetadataValue:
    return dg.MetadataValue.float(float(value)) if value is not None and math.isfinite(value) else \
        dg.MetadataValue.text("n/a")


def build_drift_asset(family: ModelFamily) -> dg.AssetsDefinition:
    """The family's drift asset: its drift columns now against its champion's training cutoffs."""

    @dg.asset(
        key=family.drift_key,
        group_name=MONITORING_GROUP,
        deps=[raw_key(table) for table in RAW_COLUMNS],
        kinds={"evidently", "postgres"},
        owners=["team:ml"],
        code_version="1",
        description=f"Feature drift (Evidently) between the {family.name} champion's training cutoffs and the latest "
        "window, with the champion's coverage and score shift.",
    )
    def feature_drift(
        context: dg.AssetExecutionContext,
        config: FeatureDriftConfig,
        storeml_db: PostgresResource,
        mlflow: MlflowTracking,
    ) -> dg.MaterializeResult:
        return _feature_drift(context, config, storeml_db, mlflow, family)

    return feature_drift


def _feature_drift(
    context: dg.AssetExecutionContext,
    config: FeatureDriftConfig,
    storeml_db: PostgresResource,
    mlflow: MlflowTracking,
    family: ModelFamily,
) -> dg.MaterializeResult:
    """How far the latest customers' features moved from the champion's training data."""
    frames = load_raw_frames(storeml_db.resolved_url())
    current_cutoff = _parse(config.current_cutoff) or metrics.latest_cutoff(frames["orders"])
    with storeml_db.connect() as conn:
        champion = store.champion_state(conn, family.name)
        champion_row = mlops.champion_of(conn, family.name) if champion else None
    configured = _parse(config.reference_cutoff)
    champion_cutoffs = train_cutoffs(champion_row["metadata"]) if champion_row else []
    if configured is not None:
        ref_cutoffs = [configured]
    elif champion_cutoffs:
        ref_cutoffs = champion_cutoffs
    else:
        ref_cutoffs = [metrics.reference_cutoff(current_cutoff, champion.training_cutoff if champion else None,
                                                config.window_days)]
    history_start = _history_start(frames["orders"])
    # a cutoff whose trailing window starts before the history is not compared (a truncated window)
    full = [c for c in ref_cutoffs if history_start is None or c - timedelta(days=config.window_days) >= history_start]
    reference = pl.concat([build_customer_features(frames, c, window_days=config.window_days) for c in ref_cutoffs])
    current = build_customer_features(frames, current_cutoff, window_days=config.window_days)
    if current.is_empty():
        raise ValueError(f"no customers at cutoff {current_cutoff.isoformat()}: materialize the source tables first")

    stamp = current_cutoff.strftime("%Y%m%d")
    html = get_settings().home / "reports" / "feature_drift" / f"feature_drift_{stamp}_{context.run.run_id[:8]}.html"
    summary = customer_drift(reference, current, drift_share_threshold=config.drift_share_threshold,
                             history_start=history_start, window_days=config.window_days,
                             html_path=str(html), min_rows=config.min_rows,
                             columns=family.drift_columns)
    version = champion.model_version if champion else None
    name = champion.model_name if champion else family.name
    ref_labels = [c.strftime("%Y-%m-%d") for c in full or ref_cutoffs]
    window = {
        "reference_cutoff": ref_cutoffs[-1].isoformat(),
        "reference_cutoffs": ref_labels,
        "current_cutoff": current_cutoff.isoformat(),
        "window_days": config.window_days,
        "reference_source": "config" if configured else ("champion" if champion else "previous_window"),
        "verdict": summary.reason,
        "compared": compared_text(ref_labels, current_cutoff, config.window_days),
        "dagster_run_id": context.run.run_id,
    }
    rows = metrics.drift_metric_rows(summary, model_name=name, model_version=version, context=window)

    coverage: metrics.CoverageFigures | None = None
    if champion is not None:
        model = _load_champion(mlflow, champion.model_name)
        if model is None:
            context.log.warning(f"mlops lists {champion.model_name} v{version} in production but MLflow has no "
                                "champion alias: coverage skipped")
        else:
            active = active_customers(current)
            coverage = metrics.coverage_figures(_scores(family, model, reference), _scores(family, model, active), active.height)
            rows += metrics.coverage_metric_rows(coverage, model_name=name, model_version=version, context=window)

    with mlflow.start_run(context, run_name=f"feature_drift_{stamp}", tags={"storeml.kind": "drift"}) as run:
        mlflow_params = {**{k: v for k, v in window.items() if k not in ("dagster_run_id", "verdict")},
                         "drift_share_threshold": config.drift_share_threshold,
                         "columns": ",".join(family.drift_columns), "champion_version": version or "none"}
        _log_params(mlflow_params)
        _log_metrics({"drift_share": summary.drift_share,
                      **{f"drift_score.{c}": col.score for c, col in summary.columns.items()},
                      **({"scored_share": coverage.scored_share, "score_psi": coverage.score_psi,
                          "score_wasserstein": coverage.score_wasserstein} if coverage else {})})
        if summary.html_path is not None:
            _log_artifact(summary.html_path)
    mlflow_run_id = run.info.run_id

    with storeml_db.connect() as conn:
        ids = mlops.insert_metrics(conn, rows)

    detail = f" (columns: {', '.join(summary.drifted_columns) or 'none'})" if summary.judged else ""
    context.log.info(f"{summary.reason}{detail}; {window['compared']}")
    meta: dict[str, Any] = {
        "drift_share": _float_meta(summary.drift_share),
        "verdict": dg.MetadataValue.text(summary.reason),
        "compared": dg.MetadataValue.text(str(window["compared"])),
        "dataset_drift": dg.MetadataValue.bool(summary.dataset_drift),
        "drift_share_threshold": dg.MetadataValue.float(config.drift_share_threshold),
        "drifted_columns": dg.MetadataValue.json(summary.drifted_columns),
        "column_scores": dg.MetadataValue.md(metrics.drift_markdown(summary)),
        "reference_cutoff": dg.MetadataValue.text(str(window["reference_cutoff"])),
        "reference_cutoffs": dg.MetadataValue.json(ref_labels),
        "current_cutoff": dg.MetadataValue.text(str(window["current_cutoff"])),
        "reference_source": dg.MetadataValue.text(str(window["reference_source"])),
        "reference_rows": dg.MetadataValue.int(summary.reference_rows),
        "current_rows": dg.MetadataValue.int(summary.current_rows),
        "report_path": dg.MetadataValue.path(str(summary.html_path)) if summary.html_path else
        dg.MetadataValue.text("none (not judged)"),
        "mlflow_run_id": dg.MetadataValue.text(mlflow_run_id),
        "champion_version": dg.MetadataValue.text(version or "none"),
        "monitoring_metric_ids": dg.MetadataValue.json(ids),
        "preview": dg.MetadataValue.md(_markdown_preview(current.select(CUSTOMER_ID, *family.drift_columns).head(5))),
    }
    if coverage is not None:
        meta["scored_share"] = dg.MetadataValue.float(coverage.scored_share)
        meta["active_customers"] = dg.MetadataValue.int(coverage.active_customers)
        meta["score_psi"] = _float_meta(coverage.score_psi)
        meta["score_wasserstein"] = _float_meta(coverage.score_wasserstein)
    return dg.MaterializeResult(metadata=meta)


def compared_text(reference_cutoffs: list[str], current_cutoff: datetime, window_days: int) -> str:
    """What a drift figure compares, in one line."""
    return (f"trailing {window_days}-day profile of active customers at {', '.join(reference_cutoffs)} "
            f"vs {current_cutoff:%Y-%m-%d}")


def _log_params(params: dict[str, Any]) -> None:
    mlflow.log_params({k: str(v)[:500] for k, v in params.items()})


def _log_metrics(values: dict[str, float | None]) -> None:
    mlflow.log_metrics({k: float(v) for k, v in values.items() if v is not None and math.isfinite(float(v))})


def _log_artifact(path: Path) -> None:
    mlflow.log_artifact(str(path), artifact_path="drift")


def _load_champion(tracking: MlflowTracking, model_name: str) -> Any | None:
    """The champion model, or None when the registry has no champion alias for it."""
    try:
        return tracking.load_champion(model_name)
    except LookupError:
        return None


