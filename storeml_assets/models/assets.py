"""Customer features, the purchase-propensity candidate and its promotion decision (groups features, models, promotion).

Thin Dagster wiring over :mod:`storeml_assets.models.features`, :mod:`~storeml_assets.models.training`,
:mod:`storeml_assets.ml.train`, :mod:`storeml_assets.ml.gates` and :mod:`~storeml_assets.models.promotion`.

- ``features/customer_features`` and ``features/training_set`` are polars frames stored by the IO
  manager (``features.customer_features``, ``features.training_set``).
- ``models/purchase_propensity`` returns a ``dg.MaterializeResult`` (no table): the model lives in
  MLflow only (a new registered version with alias ``challenger``) and in ``mlops.model_versions``
  (status ``staging``); the materialization's metadata carries the run id, version and metrics.
- ``promotion/promotion_decision`` returns a ``dg.MaterializeResult``: the decision lives in
  ``mlops.retraining_decisions`` / ``mlops.model_versions`` and the registry alias ``champion``.

Blocking source checks stop training: in a run that includes them Dagster skips the downstream
steps when they fail; in any run, the model asset also reads the latest completed evaluation of
every blocking source check (``min_rows``, ``primary_key_unique_not_null`` on each ``raw`` table)
from the instance and refuses to train when one failed. A check that was never evaluated does not
block.
"""

from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
import pandas as pd
import polars as pl
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from mlflow import log_metrics, log_params, set_tags
from mlflow.sklearn import load_model as load_sklearn_model
from pydantic import Field

from storeml_assets.ml.drift import drift_summary
from storeml_assets.ml.gates import GateConfig, evaluate_gates
from storeml_assets.ml.mlflow_resource import CHALLENGER, CHAMPION, MlflowTracking
from storeml_assets.ml.train import evaluate, evaluation_plots, flip_labels, predict_scores, train_model
from storeml_assets.models import promotion as mlops
from storeml_assets.models.features import (
    CUSTOMER_ID,
    DRIFT_FEATURES,
    FEATURE_SPEC,
    LABEL,
    LOOKBACK_DAYS,
    RAW_COLUMNS,
    SEGMENT_COLUMNS,
    build_customer_features,
    load_raw_frames,
)
from storeml_assets.models.training import (
    CutoffPlan,
    build_training_set,
    history_end,
    oracle_comparison,
    plan_cutoffs,
    split_summary,
    split_training_set,
    to_model_frame,
)
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.sources.assets import raw_key
from storeml_assets.sources.catalog import CATALOG
from storeml_assets.sources.checks import MIN_ROWS_CHECK, PRIMARY_KEY_CHECK

FEATURES_GROUP = "features"
MODELS_GROUP = "models"
PROMOTION_GROUP = "promotion"

CUSTOMER_FEATURES_KEY = dg.AssetKey(["features", "customer_features"])
TRAINING_SET_KEY = dg.AssetKey(["features", "training_set"])
PURCHASE_PROPENSITY_KEY = dg.AssetKey(["models", "purchase_propensity"])
PROMOTION_DECISION_KEY = dg.AssetKey(["promotion", "promotion_decision"])

MODEL_NAME = "purchase_propensity"
RAW_DEPS = [raw_key(table) for table in RAW_COLUMNS]
BLOCKING_SOURCE_CHECKS = (MIN_ROWS_CHECK, PRIMARY_KEY_CHECK)
_COMPLETED = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}


# --- shared helpers ------------------------------------------------------------------------------


def blocking_check_keys() -> list[dg.AssetCheckKey]:
    """The blocking checks of every source table (``min_rows`` and the primary-key check)."""
    return [dg.AssetCheckKey(raw_key(table), name) for table in CATALOG for name in BLOCKING_SOURCE_CHECKS]


def failed_blocking_checks(instance: dg.DagsterInstance) -> list[str]:
    """``raw/<table>:<check>`` of every blocking source check whose latest completed evaluation failed."""
    failed = []
    for key in blocking_check_keys():
        records = instance.event_log_storage.get_asset_check_execution_history(key, limit=1, status=_COMPLETED)
        if records and records[0].status == AssetCheckExecutionRecordStatus.FAILED:
            failed.append(f"{key.asset_key.to_user_string()}:{key.name}")
    return failed


def _raw_history(storeml_db: PostgresResource, cutoff_date: str | None) -> tuple[dict[str, pl.DataFrame], datetime]:
    """The raw frames the features need and the end of the history (``cutoff_date``, else after the latest order)."""
    frames = load_raw_frames(storeml_db.resolved_url())
    if not cutoff_date:
        return frames, history_end(frames["orders"])
    try:
        day = date.fromisoformat(cutoff_date)
    except ValueError:
        raise dg.Failure(f"cutoff_date must be YYYY-MM-DD, got {cutoff_date!r}") from None
    return frames, datetime(day.year, day.month, day.day, tzinfo=UTC)


def _markdown(frame: pl.DataFrame, rows: int = 10) -> str:
    head = frame.head(rows)
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    for row in head.iter_rows():
        lines.append("| " + " | ".join("" if v is None else str(v) for v in row) + " |")
    return "\n".join(lines)


class FeatureConfig(dg.Config):
    """Knobs shared by the feature assets."""

    cutoff_date: str | None = Field(
        default=None,
        description="End of the history (YYYY-MM-DD, 00:00 UTC; only data before it is used). "
        "Default: midnight after the day of the latest order in raw.orders.",
    )
    window_days: int = Field(default=30, description="Trailing window of the drift features (days).")
    lookback_days: int = Field(default=LOOKBACK_DAYS, description="Lookback of the behaviour features (days).")


class TrainingSetConfig(FeatureConfig):
    """Knobs of the time-split training set."""

    train_cutoffs: int = Field(
        default=2,
        description="Number of training cutoffs before the holdout cutoff, one horizon apart "
        "(each needs lookback_days of history before it).",
    )
    horizon_days: int = Field(default=30, description="Label horizon: purchased within this many days after a cutoff.")


# --- features ------------------------------------------------------------------------------------


@dg.asset(
    key=CUSTOMER_FEATURES_KEY,
    group_name=FEATURES_GROUP,
    deps=RAW_DEPS,
    kinds={"polars", "postgres"},
    owners=["team:ml"],
    code_version="1",
)
def customer_features(
    context: dg.AssetExecutionContext, config: FeatureConfig, storeml_db: PostgresResource
) -> pl.DataFrame:
    """Per-customer features (RFM, engagement, carts, promos, reviews, channel mix, drift signals) as of the end of the data."""
    frames, end = _raw_history(storeml_db, config.cutoff_date)
    features = build_customer_features(frames, end, window_days=config.window_days,
                                       lookback_days=config.lookback_days)
    means = features.select(pl.col(DRIFT_FEATURES).mean()).row(0, named=True)
    context.add_output_metadata(
        {
            "cutoff": dg.MetadataValue.text(end.isoformat()),
            "customers": dg.MetadataValue.int(features.height),
            "feature_count": dg.MetadataValue.int(len(FEATURE_SPEC.columns)),
            "drift_feature_means": dg.MetadataValue.json(
                {k: (round(v, 4) if v is not None else None) for k, v in means.items()}
            ),
        }
    )
    return features


@dg.asset(
    key=TRAINING_SET_KEY,
    group_name=FEATURES_GROUP,
    deps=RAW_DEPS,
    kinds={"polars", "postgres"},
    owners=["team:ml"],
    code_version="1",
)
def training_set(
    context: dg.AssetExecutionContext, config: TrainingSetConfig, storeml_db: PostgresResource
) -> pl.DataFrame:
    """Labelled examples (purchased within 30 days of a cutoff): earlier cutoffs to train on, the latest labelled one as holdout."""
    frames, end = _raw_history(storeml_db, config.cutoff_date)
    plan = plan_cutoffs(end, train_cutoffs=config.train_cutoffs, horizon_days=config.horizon_days)
    data = build_training_set(frames, plan, window_days=config.window_days, lookback_days=config.lookback_days)
    first_order = frames["orders"].get_column("ordered_at").min()
    assert first_order is None or isinstance(first_order, datetime)
    # day granularity: a history starting on the day the first lookback starts covers it
    covered = first_order is not None and plan.training_window[0].date() >= first_order.date()
    if not covered:
        context.log.warning(
            f"the first training cutoff {plan.train[0]:%Y-%m-%d} has less than {config.lookback_days} days of "
            "history before it: its features are truncated (fewer train_cutoffs or a longer history fix this)"
        )
    summary = split_summary(data).with_columns(pl.col("cutoff").dt.strftime("%Y-%m-%d"))
    context.add_output_metadata(
        {
            "plan": dg.MetadataValue.json(plan.to_dict()),
            "splits": dg.MetadataValue.md(_markdown(summary)),
            "train_rows": dg.MetadataValue.int(int(summary.filter(pl.col("split") == "train")["rows"].sum())),
            "holdout_rows": dg.MetadataValue.int(int(summary.filter(pl.col("split") == "holdout")["rows"].sum())),
            "lookback_covered": dg.MetadataValue.bool(bool(covered)),
        }
    )
    return data


# --- model ---------------------------------------------------------------------------------------


class PropensityModelConfig(dg.Config):
    """Knobs of the candidate training."""

    seed: int = Field(default=42, description="Random seed of the split, the booster and label_noise.")
    label_noise: float = Field(
        default=0.0,
        description="For tests and robustness drills only: share of training labels flipped at random "
        "before fitting (0 = clean labels). The holdout stays clean, so the gates judge the damage.",
    )


def _ground_truth(storeml_db: PostgresResource) -> pd.DataFrame | None:
    """ground_truth.customer_propensity when the simulator wrote it, else None (external sources)."""
    exists = storeml_db.read_sql("select to_regclass('ground_truth.customer_propensity') is not null as present")
    if not bool(exists.iloc[0, 0]):
        return None
    frame = storeml_db.read_sql(
        "select user_id, true_propensity, will_purchase, period_start from ground_truth.customer_propensity"
    )
    return frame if not frame.empty else None


def _oracle_figures(model: Any, current: pl.DataFrame, truth: pd.DataFrame | None) -> dict[str, Any]:
    """Model ROC-AUC vs will_purchase beside the oracle's, or why they are absent."""
    if truth is None:
        return {"available": False, "reason": "no ground_truth.customer_propensity (external sources)"}
    cutoff = current.get_column("cutoff").max()
    assert cutoff is None or isinstance(cutoff, datetime)
    period_start = pd.to_datetime(truth["period_start"]).dt.date.min()
    if cutoff is None or cutoff.date() != period_start:
        return {"available": False,
                "reason": f"ground truth predicts from {period_start}, features are as of {cutoff}"}
    frame = to_model_frame(current)
    scores = pd.DataFrame({CUSTOMER_ID: frame[CUSTOMER_ID], "score": predict_scores(model, frame, FEATURE_SPEC)})
    figures = oracle_comparison(scores, truth[["user_id", "true_propensity", "will_purchase"]])
    return {"available": True, **figures}


@dg.asset(
    key=PURCHASE_PROPENSITY_KEY,
    group_name=MODELS_GROUP,
    ins={
        "training_set": dg.AssetIn(key=TRAINING_SET_KEY),
        "customer_features": dg.AssetIn(key=CUSTOMER_FEATURES_KEY),
    },
    kinds={"sklearn", "mlflow"},
    owners=["team:ml"],
    code_version="1",
)
def purchase_propensity(
    context: dg.AssetExecutionContext,
    config: PropensityModelConfig,
    mlflow: MlflowTracking,
    storeml_db: PostgresResource,
    training_set: pl.DataFrame,
    customer_features: pl.DataFrame,
) -> dg.MaterializeResult:
    """Purchase-propensity candidate (calibrated gradient boosting), registered in MLflow as the new challenger."""
    failed = failed_blocking_checks(context.instance)
    if failed:
        raise dg.Failure(
            description=f"refusing to train: blocking source checks failed: {', '.join(failed)}",
            metadata={"failed_checks": dg.MetadataValue.json(failed)},
        )
    if not 0.0 <= config.label_noise <= 1.0:
        raise dg.Failure(f"label_noise must be between 0 and 1, got {config.label_noise}")

    train, holdout = split_training_set(training_set)
    if config.label_noise > 0:
        train = flip_labels(train, LABEL, config.label_noise, config.seed)
        context.log.warning(f"label_noise={config.label_noise}: {config.label_noise:.0%} of training labels flipped")
    model = train_model(train, label=LABEL, features=FEATURE_SPEC, seed=config.seed)
    result = evaluate(model, holdout, label=LABEL, features=FEATURE_SPEC, segment_columns=SEGMENT_COLUMNS)
    oracle = _oracle_figures(model, customer_features, _ground_truth(storeml_db))

    cutoffs = sorted(training_set.filter(pl.col("split") == "train").get_column("cutoff").unique().to_list())
    holdout_cutoff = training_set.filter(pl.col("split") == "holdout").get_column("cutoff").max()
    if not isinstance(holdout_cutoff, datetime):
        raise dg.Failure(f"features/training_set has no holdout rows (holdout cutoff {holdout_cutoff!r})")
    horizon = int((holdout_cutoff - cutoffs[-1]).days) if cutoffs else 30
    plan = CutoffPlan(end=holdout_cutoff, train=tuple(cutoffs), holdout=holdout_cutoff, horizon_days=horizon)
    window = plan.training_window
    metrics = result.metrics()
    params = {
        "model_name": MODEL_NAME,
        "seed": config.seed,
        "label_noise": config.label_noise,
        "train_cutoffs": ",".join(f"{c:%Y-%m-%d}" for c in cutoffs),
        "holdout_cutoff": f"{holdout_cutoff:%Y-%m-%d}",
        "training_rows": len(train),
        "holdout_rows": len(holdout),
        "numeric_features": len(FEATURE_SPEC.numeric),
        "categorical_features": ",".join(FEATURE_SPEC.categorical),
        "segment_columns": ",".join(SEGMENT_COLUMNS),
    }
    with mlflow.start_run(context, run_name=f"{MODEL_NAME}-{context.run.run_id[:8]}",
                          tags={"storeml.model_name": MODEL_NAME, "storeml.label_noise": config.label_noise}) as run:
        log_params(params)
        log_metrics({k: v for k, v in metrics.items() if v == v})
        if oracle.get("available"):
            log_metrics({"model_roc_auc_vs_will_purchase": oracle["model_roc_auc"],
                         "oracle_roc_auc": oracle["oracle_roc_auc"], "oracle_ratio": oracle["ratio"]})
        mlflow.log_files(evaluation_plots(result), artifact_path="evaluation")
        mlflow.log_files({"evaluation.json": _evaluation_json(result.to_dict(), oracle).encode()}, artifact_path="evaluation")
        set_tags({"storeml.holdout_cutoff": params["holdout_cutoff"]})
        _, version = mlflow.log_and_register(model, model_name=MODEL_NAME,
                                             input_example=train[FEATURE_SPEC.columns].head(5))
        run_id = run.info.run_id

    with storeml_db.connect() as conn:
        mlops.insert_model_version(
            conn,
            model_name=MODEL_NAME,
            mlflow_run_id=run_id,
            model_version=version,
            evaluation=result,
            training_rows=len(train),
            training_window=window,
            metadata={
                **params,
                "metrics": metrics,
                "segment_f1": result.segment_f1,
                "oracle": oracle,
                "dagster_run_id": context.run.run_id,
            },
        )

    meta: dict[str, Any] = {
        "mlflow_run_id": dg.MetadataValue.text(run_id),
        "model_version": dg.MetadataValue.text(str(version)),
        "registry_alias": dg.MetadataValue.text(CHALLENGER),
        **{name: dg.MetadataValue.float(float(value)) for name, value in metrics.items()},
        "training_rows": dg.MetadataValue.int(len(train)),
        "label_noise": dg.MetadataValue.float(config.label_noise),
        "segment_f1": dg.MetadataValue.md(mlops.segment_f1_markdown(result)),
    }
    if oracle.get("available"):
        meta["model_roc_auc_vs_will_purchase"] = dg.MetadataValue.float(oracle["model_roc_auc"])
        meta["oracle_roc_auc"] = dg.MetadataValue.float(oracle["oracle_roc_auc"])
        meta["oracle_ratio"] = dg.MetadataValue.float(oracle["ratio"])
    else:
        meta["oracle"] = dg.MetadataValue.text(oracle["reason"])
    context.log.info(
        f"candidate v{version}: F1 {result.f1:.3f}, Brier {result.brier:.3f}, ROC-AUC {result.roc_auc:.3f}"
        + (f", vs oracle {oracle['model_roc_auc']:.3f}/{oracle['oracle_roc_auc']:.3f} = {oracle['ratio']:.3f}"
           if oracle.get("available") else "")
    )
    return dg.MaterializeResult(metadata=meta)


def _evaluation_json(evaluation: dict[str, Any], oracle: dict[str, Any]) -> str:
    """The evaluation (and oracle figures) as strict JSON text for the MLflow artifact."""
    return mlops.to_json({"evaluation": evaluation, "oracle": oracle})


# --- promotion -----------------------------------------------------------------------------------


class PromotionConfig(dg.Config):
    """Thresholds of the six promotion gates (defaults: storeml_assets.ml.gates.GateConfig)."""

    min_training_rows: int = Field(default=GateConfig.min_training_rows,
                                   description="Gate 1 data_volume: minimum training rows of the candidate.")
    f1_floor: float = Field(default=GateConfig.f1_floor, description="Gate 2 performance_floor: minimum holdout F1.")
    roc_auc_floor: float = Field(default=GateConfig.roc_auc_floor,
                                 description="Gate 2 performance_floor: minimum holdout ROC-AUC.")
    f1_regression_tolerance: float = Field(
        default=GateConfig.f1_regression_tolerance,
        description="Gate 3 no_regression: the candidate's F1 may trail the champion's by at most this much.",
    )
    brier_tolerance: float = Field(
        default=GateConfig.brier_tolerance,
        description="Gate 4 calibration: the candidate's Brier may exceed the champion's by at most this much.",
    )
    brier_max: float = Field(default=GateConfig.brier_max, description="Gate 4 calibration: absolute maximum Brier score.")
    drift_share_max: float = Field(
        default=GateConfig.drift_share_max,
        description="Gate 5 data_drift: maximum share of drifted numeric features between the candidate's "
        "training rows and the current features.",
    )
    segment_f1_floor: float = Field(default=GateConfig.segment_f1_floor,
                                    description="Gate 6 segment_consistency: minimum F1 of every segment.")
    segment_f1_gap_max: float = Field(
        default=GateConfig.segment_f1_gap_max,
        description="Gate 6 segment_consistency: maximum F1 gap between the best and worst segment of a column.",
    )
    min_segment_rows: int = Field(default=GateConfig.min_segment_rows,
                                  description="Gate 6: segments with fewer holdout rows are ignored.")
    min_segment_positives: int = Field(default=GateConfig.min_segment_positives,
                                       description="Gate 6: segments with fewer positive labels are ignored.")

    def gate_config(self) -> GateConfig:
        return GateConfig(**{name: getattr(self, name) for name in GateConfig.__dataclass_fields__})


def _registry_run_id(mlflow: MlflowTracking, alias: str) -> tuple[str, str] | None:
    """(version, run id) the alias points at, or None."""
    version = mlflow.alias_version(MODEL_NAME, alias)
    if version is None:
        return None
    run_id = mlflow.client().get_model_version(MODEL_NAME, version).run_id
    return None if run_id is None else (version, run_id)


@dg.asset(
    key=PROMOTION_DECISION_KEY,
    group_name=PROMOTION_GROUP,
    deps=[PURCHASE_PROPENSITY_KEY],
    ins={
        "training_set": dg.AssetIn(key=TRAINING_SET_KEY),
        "customer_features": dg.AssetIn(key=CUSTOMER_FEATURES_KEY),
    },
    kinds={"mlflow", "postgres"},
    owners=["team:ml"],
    code_version="1",
)
def promotion_decision(
    context: dg.AssetExecutionContext,
    config: PromotionConfig,
    mlflow: MlflowTracking,
    storeml_db: PostgresResource,
    training_set: pl.DataFrame,
    customer_features: pl.DataFrame,
) -> dg.MaterializeResult:
    """Promote or reject the challenger: six gates against the champion on the same holdout; the champion alias moves only on promote."""
    challenger = _registry_run_id(mlflow, CHALLENGER)
    if challenger is None:
        raise dg.Failure(f"registered model {MODEL_NAME!r} has no {CHALLENGER!r} version: train a candidate first")
    version, candidate_run_id = challenger
    champion = _registry_run_id(mlflow, CHAMPION)
    if champion is not None and champion[0] == version:
        raise dg.Failure(f"challenger version {version} is already the champion: train a new candidate first")

    train, holdout = split_training_set(training_set)
    candidate_model = load_sklearn_model(f"models:/{MODEL_NAME}@{CHALLENGER}")
    candidate = evaluate(candidate_model, holdout, label=LABEL, features=FEATURE_SPEC, segment_columns=SEGMENT_COLUMNS)
    champion_result = None
    if champion is not None:
        champion_model = mlflow.load_champion(MODEL_NAME)
        champion_result = evaluate(champion_model, holdout, label=LABEL, features=FEATURE_SPEC,
                                   segment_columns=SEGMENT_COLUMNS)

    gates = config.gate_config()
    drift = drift_summary(train, to_model_frame(customer_features), columns=FEATURE_SPEC.numeric,
                          drift_share_threshold=max(min(gates.drift_share_max, 1.0), 1e-9))
    failed = failed_blocking_checks(context.instance)
    with storeml_db.connect() as conn:
        row = mlops.model_version_row(conn, candidate_run_id)
    if row is None:
        raise dg.Failure(f"challenger run {candidate_run_id} has no mlops.model_versions row")
    training_rows = int(row["training_rows"] or len(train))

    decision = evaluate_gates(candidate, champion_result, training_rows=training_rows, failed_checks=failed,
                              drift_share=drift.drift_share, config=gates)
    with storeml_db.connect() as conn:
        decision_id = mlops.record_decision(
            conn,
            model_name=MODEL_NAME,
            decision=decision,
            candidate_run_id=candidate_run_id,
            champion_run_id=champion[1] if champion else None,
            dagster_run_id=context.run.run_id,
        )
        mlops.apply_decision(conn, model_name=MODEL_NAME, action=decision.action, candidate_run_id=candidate_run_id)
        if decision.action == "promote":
            mlflow.promote(MODEL_NAME, version)  # inside the transaction: a registry error rolls the rows back

    context.log.info(f"{decision.action} version {version}: {decision.reasoning}")
    meta: dict[str, Any] = {
        "action": dg.MetadataValue.text(decision.action),
        "reasoning": dg.MetadataValue.text(decision.reasoning),
        "gates": dg.MetadataValue.md(mlops.gates_markdown(decision)),
        "failed_gates": dg.MetadataValue.json(decision.failed_gates),
        "decision_id": dg.MetadataValue.int(decision_id),
        "candidate_version": dg.MetadataValue.text(version),
        "candidate_run_id": dg.MetadataValue.text(candidate_run_id),
        "champion_version": dg.MetadataValue.text(champion[0] if champion else "none"),
        "candidate_f1": dg.MetadataValue.float(candidate.f1),
        "candidate_brier": dg.MetadataValue.float(candidate.brier),
        "candidate_roc_auc": dg.MetadataValue.float(candidate.roc_auc),
        "drift_share": dg.MetadataValue.float(drift.drift_share),
        "drifted_columns": dg.MetadataValue.json(drift.drifted_columns),
        "failed_blocking_checks": dg.MetadataValue.json(failed),
    }
    if champion_result is not None:
        meta["champion_f1"] = dg.MetadataValue.float(champion_result.f1)
        meta["champion_brier"] = dg.MetadataValue.float(champion_result.brier)
    for name, result in mlops.gate_results_json(decision).items():
        meta[f"gate/{name}"] = dg.MetadataValue.json(result)
    return dg.MaterializeResult(metadata=meta)


MODEL_ASSETS: list[dg.AssetsDefinition] = [customer_features, training_set, purchase_propensity, promotion_decision]
