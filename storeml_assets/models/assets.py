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

Blocking checks stop training: in a run that includes them Dagster skips the downstream steps when
they fail; in any run, the model asset also reads the latest completed evaluation of every blocking
check of every asset upstream of it in the code location's graph (the ``raw`` source checks and the
warehouse integrity checks: the features depend on ``warehouse/customers`` and
``warehouse/transactions``, which conform the same users and orders) and refuses to train when one
failed. A check that was never evaluated does not block.

Each training attempt records its data basis (:class:`~storeml_assets.models.training.DataBasis`: the
newest order and the order count its training set saw, the code version, the retraining-trigger
settings that launched it) in ``mlops.model_versions.metadata``; the retraining sensor reads it.
The promotion step judges exactly the candidate its own upstream step produced: the run id and
version come from the ``models/purchase_propensity`` materialization of the same run (or, in a run
without it, the newest one), never from the shared ``challenger`` alias; a candidate gets one decision.
"""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import pandas as pd
import polars as pl
from mlflow import log_metrics, log_params, set_tags
from mlflow.sklearn import load_model as load_sklearn_model
from pydantic import Field

from storeml_assets import mlops
from storeml_assets.db.urls import first_line
from storeml_assets.jsonsafe import to_json
from storeml_assets.ml.gates import GateConfig, evaluate_gates, gate_results_json
from storeml_assets.ml.mlflow_resource import CHALLENGER, CHAMPION, MlflowTracking
from storeml_assets.ml.reports import gates_markdown, segment_f1_markdown
from storeml_assets.ml.train import evaluate, evaluation_plots, flip_labels, predict_scores, train_model
from storeml_assets.models.features import (
    CUSTOMER_ID,
    DRIFT_FEATURES,
    FEATURE_SPEC,
    LABEL,
    LOOKBACK_DAYS,
    RAW_COLUMNS,
    SEGMENT_COLUMNS,
    build_customer_features,
    customer_drift,
    load_raw_frames,
)
from storeml_assets.models.training import (
    TRIGGER_CONFIG_TAG,
    CutoffPlan,
    DataBasis,
    build_training_set,
    data_basis,
    history_end,
    oracle_comparison,
    plan_cutoffs,
    split_summary,
    split_training_set,
    to_model_frame,
)
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.sources.assets import raw_key

FEATURES_GROUP = "features"
MODELS_GROUP = "models"
PROMOTION_GROUP = "promotion"

CUSTOMER_FEATURES_KEY = dg.AssetKey(["features", "customer_features"])
TRAINING_SET_KEY = dg.AssetKey(["features", "training_set"])
PURCHASE_PROPENSITY_KEY = dg.AssetKey(["models", "purchase_propensity"])
PROMOTION_DECISION_KEY = dg.AssetKey(["promotion", "promotion_decision"])

MODEL_NAME = "purchase_propensity"
#: Code version of the candidate training; a training attempt records it, and a new one gives the
#: retraining sensor a reason to train again on data an attempt already saw.
MODEL_CODE_VERSION = "1"
RAW_DEPS = [raw_key(table) for table in RAW_COLUMNS]
#: Warehouse tables conforming the users and orders the features read: their blocking integrity
#: checks (keys, references) guard the features and everything trained on them.
WAREHOUSE_DEPS = [dg.AssetKey(["warehouse", "customers"]), dg.AssetKey(["warehouse", "transactions"])]
#: Completed evaluations looked at per check when finding its latest verdict.
_CHECK_HISTORY = 20


# --- shared helpers ------------------------------------------------------------------------------


def upstream_blocking_checks(repository: dg.RepositoryDefinition, key: dg.AssetKey) -> list[dg.AssetCheckKey]:
    """Every blocking check of every asset upstream of ``key`` in the repository's asset graph."""
    assets = list({id(d): d for d in repository.assets_defs_by_key.values()}.values())
    upstream = dg.AssetSelection.assets(key).upstream().resolve(assets) - {key}
    check_defs = list({id(d): d for d in repository.asset_checks_defs_by_key.values()}.values())
    specs = [spec for d in [*assets, *check_defs] for spec in d.check_specs]
    keys = {spec.key for spec in specs if spec.blocking and spec.asset_key in upstream}
    return sorted(keys, key=lambda k: (k.asset_key.to_user_string(), k.name))


def failed_checks(instance: dg.DagsterInstance, keys: list[dg.AssetCheckKey]) -> list[str]:
    """``<asset>:<check>`` of every check in ``keys`` whose latest completed evaluation failed with
    severity ERROR (a check never evaluated, or only planned, does not count)."""
    failed = []
    for key in keys:
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=_CHECK_HISTORY)
        latest = next((r.evaluation for r in history if r.evaluation is not None), None)
        if latest is not None and not latest.passed and latest.severity == dg.AssetCheckSeverity.ERROR:
            failed.append(f"{key.asset_key.to_user_string()}:{key.name}")
    return failed


def _repository(context: dg.AssetExecutionContext) -> dg.RepositoryDefinition:
    """The code location the run belongs to. A run launched from a code location (daemon, UI) carries
    it; an in-process run (``execute_in_process``, ``dg.materialize``: the demo, tests) does not, and
    then storeml's own code location is the graph."""
    try:
        return context.repository_def
    except Exception as exc:  # Dagster raises an invariant error when the run has no repository
        context.log.debug(f"no repository on this run ({first_line(exc)}): using the storeml code location")
    from storeml_assets.definitions import defs  # the models domain does not import it at module level

    return defs.get_repository_def()


def failed_blocking_checks(context: dg.AssetExecutionContext, key: dg.AssetKey) -> list[str]:
    """The blocking checks upstream of ``key`` whose latest completed evaluation failed."""
    return failed_checks(context.instance, upstream_blocking_checks(_repository(context), key))


def _lineage(run: dg.DagsterRun) -> list[str]:
    """The run and the runs it re-executes (a retry's parent and root), nearest first."""
    ids = [run.run_id, run.parent_run_id, run.root_run_id]
    return [i for n, i in enumerate(ids) if i and i not in ids[:n]]


def materialization_metadata(
    instance: dg.DagsterInstance, key: dg.AssetKey, run: dg.DagsterRun, *, fallback_to_latest: bool = True
) -> tuple[dict[str, Any], str] | None:
    """Metadata values of ``key``'s materialization in ``run`` (or in the run it re-executes), and the
    run id it came from; without one there, the newest materialization of ``key`` when
    ``fallback_to_latest``; None when there is none."""
    records = instance.fetch_materializations(key, limit=100).records
    for run_id in _lineage(run):
        mine = [r for r in records if r.run_id == run_id and r.asset_materialization is not None]
        if mine:
            return _metadata_values(mine[0]), run_id
    if not fallback_to_latest:
        return None
    latest = next((r for r in records if r.asset_materialization is not None), None)
    return None if latest is None else (_metadata_values(latest), latest.run_id)


def _metadata_values(record: Any) -> dict[str, Any]:
    return {name: value.value for name, value in record.asset_materialization.metadata.items()}


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
    deps=[*RAW_DEPS, *WAREHOUSE_DEPS],
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
    deps=[*RAW_DEPS, *WAREHOUSE_DEPS],
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
    basis = data_basis(frames["orders"], end)
    context.add_output_metadata(
        {
            "data_hwm": dg.MetadataValue.text(basis.data_hwm.isoformat() if basis.data_hwm else ""),
            "orders_seen": dg.MetadataValue.int(basis.orders_seen or 0),
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
    code_version=MODEL_CODE_VERSION,
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
    failed = failed_blocking_checks(context, PURCHASE_PROPENSITY_KEY)
    if failed:
        raise dg.Failure(
            description=f"refusing to train: blocking checks upstream failed: {', '.join(failed)}",
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
    basis = _training_basis(context, storeml_db, holdout_cutoff + timedelta(days=horizon))
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
                **basis.to_metadata(),
            },
        )

    meta: dict[str, Any] = {
        "mlflow_run_id": dg.MetadataValue.text(run_id),
        "model_version": dg.MetadataValue.text(str(version)),
        "registry_alias": dg.MetadataValue.text(CHALLENGER),
        **{name: dg.MetadataValue.float(float(value)) for name, value in metrics.items()},
        "training_rows": dg.MetadataValue.int(len(train)),
        "data_hwm": dg.MetadataValue.text(basis.data_hwm.isoformat() if basis.data_hwm else ""),
        "orders_seen": dg.MetadataValue.int(basis.orders_seen or 0),
        "label_noise": dg.MetadataValue.float(config.label_noise),
        "segment_f1": dg.MetadataValue.md(segment_f1_markdown(result)),
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


def _training_basis(context: dg.AssetExecutionContext, storeml_db: PostgresResource, end: datetime) -> DataBasis:
    """The data basis of this attempt: what the training set it loaded saw (its materialization's
    ``data_hwm`` / ``orders_seen``), else the orders in ``raw.orders`` before ``end``."""
    trigger = context.run.tags.get(TRIGGER_CONFIG_TAG)
    found = materialization_metadata(context.instance, TRAINING_SET_KEY, context.run)
    if found is not None and found[0].get("data_hwm") and found[0].get("orders_seen") is not None:
        meta = found[0]
        return DataBasis(datetime.fromisoformat(str(meta["data_hwm"])), int(meta["orders_seen"]),
                         MODEL_CODE_VERSION, trigger)
    context.log.warning("features/training_set recorded no data high-water mark: measuring raw.orders now")
    frame = storeml_db.read_sql(
        "select max(ordered_at) as hwm, count(*) as seen from raw.orders where ordered_at < :end", {"end": end}
    )
    hwm = frame["hwm"].iloc[0]
    return DataBasis(None if pd.isna(hwm) else pd.Timestamp(hwm).to_pydatetime(), int(frame["seen"].iloc[0]),
                     MODEL_CODE_VERSION, trigger)


def _evaluation_json(evaluation: dict[str, Any], oracle: dict[str, Any]) -> str:
    """The evaluation (and oracle figures) as strict JSON text for the MLflow artifact."""
    return to_json({"evaluation": evaluation, "oracle": oracle})


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
        description="Gate 5 data_drift: maximum share of drifted drift columns (the trailing-window profile of "
        "active customers) between the candidate's training rows and the current features.",
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


def _own_candidate(context: dg.AssetExecutionContext) -> tuple[str, str]:
    """(version, MLflow run id) of the candidate this run's ``models/purchase_propensity`` step produced
    (in a run without that step: its newest materialization)."""
    found = materialization_metadata(context.instance, PURCHASE_PROPENSITY_KEY, context.run)
    if found is None:
        raise dg.Failure(f"{PURCHASE_PROPENSITY_KEY.to_user_string()} was never materialized: train a candidate first")
    meta, source_run = found
    run_id, version = meta.get("mlflow_run_id"), meta.get("model_version")
    if not run_id or not version:
        raise dg.Failure(f"the {PURCHASE_PROPENSITY_KEY.to_user_string()} materialization of Dagster run {source_run} "
                         "names no mlflow_run_id/model_version")
    if source_run not in _lineage(context.run):
        context.log.info(f"no candidate trained in this run: judging v{version} (MLflow run {run_id}) "
                         f"trained by Dagster run {source_run}")
    return str(version), str(run_id)


def identical_data_reason(candidate: dict[str, Any], champion: dict[str, Any] | None) -> str | None:
    """Why the candidate brings nothing new (same data basis and code version as the champion), or None.

    ``candidate`` / ``champion`` are ``mlops.model_versions`` rows; a row without a recorded basis
    (trained before bases were recorded) is never called identical.
    """
    if champion is None:
        return None
    mine = DataBasis.from_metadata(candidate.get("metadata"))
    theirs = DataBasis.from_metadata(champion.get("metadata"))
    if mine is None or theirs is None or not mine.same_data(theirs) or mine.code_version != theirs.code_version:
        return None
    return (f"trained on exactly the data of champion v{champion['model_version']} ({mine.describe()}) with the "
            f"same code version {mine.code_version}: not a new model")


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
    """Promote or reject the candidate trained upstream in this run: six gates against the champion on the same holdout; the champion alias moves only on promote."""
    version, candidate_run_id = _own_candidate(context)
    with storeml_db.connect() as conn:
        row = mlops.model_version_row(conn, candidate_run_id)
        earlier = mlops.decision_of(conn, candidate_run_id)
    if row is None:
        raise dg.Failure(f"candidate run {candidate_run_id} (v{version}) has no mlops.model_versions row")
    if earlier is not None:
        raise dg.Failure(f"candidate v{version} (MLflow run {candidate_run_id}) already has decision "
                         f"#{earlier['id']} ({earlier['action']}): a model version gets one decision; train a new candidate")
    champion = _registry_run_id(mlflow, CHAMPION)
    if champion is not None and champion[0] == version:
        raise dg.Failure(f"candidate version {version} is already the champion: train a new candidate first")

    train, holdout = split_training_set(training_set)
    candidate_model = load_sklearn_model(f"models:/{MODEL_NAME}/{version}")
    candidate = evaluate(candidate_model, holdout, label=LABEL, features=FEATURE_SPEC, segment_columns=SEGMENT_COLUMNS)
    champion_result = None
    if champion is not None:
        champion_model = mlflow.load_champion(MODEL_NAME)
        champion_result = evaluate(champion_model, holdout, label=LABEL, features=FEATURE_SPEC,
                                   segment_columns=SEGMENT_COLUMNS)

    gates = config.gate_config()
    # the one drift comparison (DRIFT_COLUMNS of the active customers), shared with monitoring/feature_drift
    drift = customer_drift(pl.from_pandas(train), customer_features,
                           drift_share_threshold=max(min(gates.drift_share_max, 1.0), 1e-9))
    failed = failed_blocking_checks(context, PROMOTION_DECISION_KEY)
    training_rows = int(row["training_rows"] or len(train))
    with storeml_db.connect() as conn:
        champion_row = mlops.model_version_row(conn, champion[1]) if champion else None
    identical = identical_data_reason(row, champion_row)

    decision = evaluate_gates(candidate, champion_result, training_rows=training_rows, failed_checks=failed,
                              drift_share=drift, config=gates, identical_to_champion=identical)
    with storeml_db.connect() as conn:
        try:
            decision_id = mlops.record_decision(
                conn,
                model_name=MODEL_NAME,
                decision=decision,
                candidate_run_id=candidate_run_id,
                champion_run_id=champion[1] if champion else None,
                dagster_run_id=context.run.run_id,
            )
        except mlops.DecisionExistsError as exc:
            raise dg.Failure(str(exc)) from None
        mlops.apply_decision(conn, model_name=MODEL_NAME, action=decision.action, candidate_run_id=candidate_run_id)
        if decision.action == "promote":
            mlflow.promote(MODEL_NAME, version)  # inside the transaction: a registry error rolls the rows back

    context.log.info(f"{decision.action} version {version}: {decision.reasoning}")
    meta: dict[str, Any] = {
        "action": dg.MetadataValue.text(decision.action),
        "reasoning": dg.MetadataValue.text(decision.reasoning),
        "gates": dg.MetadataValue.md(gates_markdown(decision)),
        "failed_gates": dg.MetadataValue.json(decision.failed_gates),
        "decision_id": dg.MetadataValue.int(decision_id),
        "candidate_version": dg.MetadataValue.text(version),
        "candidate_run_id": dg.MetadataValue.text(candidate_run_id),
        "champion_version": dg.MetadataValue.text(champion[0] if champion else "none"),
        "candidate_f1": dg.MetadataValue.float(candidate.f1),
        "candidate_brier": dg.MetadataValue.float(candidate.brier),
        "candidate_roc_auc": dg.MetadataValue.float(candidate.roc_auc),
        "drift_share": dg.MetadataValue.float(drift.drift_share) if drift.drift_share is not None
        else dg.MetadataValue.text("n/a"),
        "drift_verdict": dg.MetadataValue.text(drift.reason),
        "drifted_columns": dg.MetadataValue.json(drift.drifted_columns),
        "failed_blocking_checks": dg.MetadataValue.json(failed),
    }
    if champion_result is not None:
        meta["champion_f1"] = dg.MetadataValue.float(champion_result.f1)
        meta["champion_brier"] = dg.MetadataValue.float(champion_result.brier)
    for name, result in gate_results_json(decision).items():
        meta[f"gate/{name}"] = dg.MetadataValue.json(result)
    return dg.MaterializeResult(metadata=meta)


MODEL_ASSETS: list[dg.AssetsDefinition] = [customer_features, training_set, purchase_propensity, promotion_decision]
