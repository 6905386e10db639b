"""The candidate asset of a model family (group ``models``): train, log to MLflow, register as ``challenger``.

:func:`build_candidate_asset` turns a :class:`~storeml_assets.lifecycle.family.ModelFamily` into
``models/<family>``, a ``dg.MaterializeResult`` (no table): the model lives in MLflow only (a new
registered version with alias ``challenger``) and in the mlops ``model_versions`` table (status ``staging``);
the materialization's metadata carries the run id, version and metrics.

Blocking checks stop training (:mod:`storeml_assets.checks_guard`). Each training attempt records
its data basis (:class:`~storeml_assets.features.training.DataBasis`: the newest order and the order
count its training set saw, the family's code version, the retraining-trigger settings that launched
it) with its model version; the retraining sensor reads it.
"""

from datetime import datetime, timedelta
from typing import Any

import dagster as dg
import pandas as pd
import polars as pl
from mlflow import log_metrics, log_params, set_tags
from pydantic import Field

from storeml_assets import mlops
from storeml_assets.checks_guard import failed_blocking_checks
from storeml_assets.features.training import (
    TRIGGER_CONFIG_TAG,
    CutoffPlan,
    DataBasis,
    split_training_set,
)
from storeml_assets.jsonsafe import to_json
from storeml_assets.keys import MODELS_GROUP
from storeml_assets.lifecycle.family import ModelFamily
from storeml_assets.lifecycle.runs import materialization_metadata
from storeml_assets.ml.mlflow_resource import CHALLENGER, MlflowTracking
from storeml_assets.ml.reports import segment_f1_markdown
from storeml_assets.ml.train import evaluation_plots, flip_labels
from storeml_assets.resources.postgres import PostgresResource


class CandidateConfig(dg.Config):
    """Knobs of the candidate training."""

    seed: int = Field(default=42, description="Random seed of the split, the booster and label_noise.")
    label_noise: float = Field(
        default=0.0,
        description="For tests and robustness drills only: share of training labels flipped at random "
        "before fitting (0 = clean labels). The holdout stays clean, so the gates judge the damage.",
    )


def _training_basis(context: dg.AssetExecutionContext, family: ModelFamily, storeml_db: PostgresResource,
                    end: datetime) -> DataBasis:
    """The data basis of this attempt: what the training set it loaded saw (its materialization's
    ``data_hwm`` / ``orders_seen``), else the orders in ``raw.orders`` before ``end``."""
    trigger = context.run.tags.get(TRIGGER_CONFIG_TAG)
    found = materialization_metadata(context.instance, family.training_set_key, context.run)
    if found is not None and found[0].get("data_hwm") and found[0].get("orders_seen") is not None:
        meta = found[0]
        return DataBasis(datetime.fromisoformat(str(meta["data_hwm"])), int(meta["orders_seen"]),
                         family.code_version, trigger)
    context.log.warning(f"{family.training_set_key.to_user_string()} recorded no data high-water mark: "
                        "measuring raw.orders now")
    frame = storeml_db.read_sql(
        "select max(ordered_at) as hwm, count(*) as seen from raw.orders where ordered_at < :end", {"end": end}
    )
    hwm = frame["hwm"].iloc[0]
    return DataBasis(None if pd.isna(hwm) else pd.Timestamp(hwm).to_pydatetime(), int(frame["seen"].iloc[0]),
                     family.code_version, trigger)


def _plan(family: ModelFamily, training_set: pl.DataFrame) -> CutoffPlan:
    """The cutoffs the training set was built on (train cutoffs, holdout cutoff, horizon)."""
    cutoffs = sorted(training_set.filter(pl.col("split") == "train").get_column("cutoff").unique().to_list())
    holdout_cutoff = training_set.filter(pl.col("split") == "holdout").get_column("cutoff").max()
    if not isinstance(holdout_cutoff, datetime):
        raise dg.Failure(f"{family.training_set_key.to_user_string()} has no holdout rows "
                         f"(holdout cutoff {holdout_cutoff!r})")
    horizon = int((holdout_cutoff - cutoffs[-1]).days) if cutoffs else 30
    return CutoffPlan(end=holdout_cutoff, train=tuple(cutoffs), holdout=holdout_cutoff, horizon_days=horizon)


def _oracle(family: ModelFamily, model: Any, features: pl.DataFrame, storeml_db: PostgresResource) -> dict[str, Any]:
    if family.oracle is None:
        return {"available": False, "reason": f"model family {family.name} declares no oracle"}
    return family.oracle(model, features, storeml_db.read_sql)


def _metadata(family: ModelFamily, run_id: str, version: str, metrics: dict[str, float], train_rows: int,
              basis: DataBasis, config: CandidateConfig, result: Any, oracle: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "mlflow_run_id": dg.MetadataValue.text(run_id),
        "model_version": dg.MetadataValue.text(str(version)),
        "registry_alias": dg.MetadataValue.text(CHALLENGER),
        **{name: dg.MetadataValue.float(float(value)) for name, value in metrics.items()},
        "training_rows": dg.MetadataValue.int(train_rows),
        "data_hwm": dg.MetadataValue.text(basis.data_hwm.isoformat() if basis.data_hwm else ""),
        "orders_seen": dg.MetadataValue.int(basis.orders_seen or 0),
        "label_noise": dg.MetadataValue.float(config.label_noise),
        "segment_f1": dg.MetadataValue.md(segment_f1_markdown(result)),
        "higher_is_better": dg.MetadataValue.json(dict(family.metrics)),
    }
    if oracle.get("available"):
        meta["model_roc_auc_vs_will_purchase"] = dg.MetadataValue.float(oracle["model_roc_auc"])
        meta["oracle_roc_auc"] = dg.MetadataValue.float(oracle["oracle_roc_auc"])
        meta["oracle_ratio"] = dg.MetadataValue.float(oracle["ratio"])
    else:
        meta["oracle"] = dg.MetadataValue.text(oracle["reason"])
    return meta


def build_candidate_asset(family: ModelFamily) -> dg.AssetsDefinition:
    """``models/<family>``: train the family on its training set, log and register the candidate, record it."""

    @dg.asset(
        key=family.model_key,
        group_name=MODELS_GROUP,
        ins={
            "training_set": dg.AssetIn(key=family.training_set_key),
            "customer_features": dg.AssetIn(key=family.features_key),
        },
        kinds=set(family.kinds),
        owners=["team:ml"],
        code_version=family.code_version,
        description=family.description,
    )
    def candidate(
        context: dg.AssetExecutionContext,
        config: CandidateConfig,
        mlflow: MlflowTracking,
        storeml_db: PostgresResource,
        training_set: pl.DataFrame,
        customer_features: pl.DataFrame,
    ) -> dg.MaterializeResult:
        failed = failed_blocking_checks(context, family.model_key)
        if failed:
            raise dg.Failure(
                description=f"refusing to train: blocking checks upstream failed: {', '.join(failed)}",
                metadata={"failed_checks": dg.MetadataValue.json(failed)},
            )
        if not 0.0 <= config.label_noise <= 1.0:
            raise dg.Failure(f"label_noise must be between 0 and 1, got {config.label_noise}")

        train, holdout = split_training_set(training_set)
        if config.label_noise > 0:
            train = flip_labels(train, family.label, config.label_noise, config.seed)
            context.log.warning(f"label_noise={config.label_noise}: {config.label_noise:.0%} of training labels flipped")
        model = family.train(train, config.seed)
        result = family.evaluate(model, holdout)
        oracle = _oracle(family, model, customer_features, storeml_db)

        plan = _plan(family, training_set)
        basis = _training_basis(context, family, storeml_db, plan.holdout + timedelta(days=plan.horizon_days))
        metrics = result.metrics()
        params = {
            "model_name": family.name,
            "seed": config.seed,
            "label_noise": config.label_noise,
            "train_cutoffs": ",".join(f"{c:%Y-%m-%d}" for c in plan.train),
            "holdout_cutoff": f"{plan.holdout:%Y-%m-%d}",
            "training_rows": len(train),
            "holdout_rows": len(holdout),
            **family.params,
        }
        with mlflow.start_run(context, run_name=f"{family.name}-{context.run.run_id[:8]}",
                              tags={"storeml.model_name": family.name, "storeml.label_noise": config.label_noise}) as run:
            log_params(params)
            log_metrics({k: v for k, v in metrics.items() if v == v})
            if oracle.get("available"):
                log_metrics({"model_roc_auc_vs_will_purchase": oracle["model_roc_auc"],
                             "oracle_roc_auc": oracle["oracle_roc_auc"], "oracle_ratio": oracle["ratio"]})
            mlflow.log_files(evaluation_plots(result), artifact_path="evaluation")
            mlflow.log_files({"evaluation.json": to_json({"evaluation": result.to_dict(), "oracle": oracle}).encode()},
                             artifact_path="evaluation")
            set_tags({"storeml.holdout_cutoff": params["holdout_cutoff"]})
            _, version = mlflow.log_and_register(model, model_name=family.name,
                                                 input_example=train[list(family.signature)].head(5))
            run_id = run.info.run_id

        with storeml_db.connect() as conn:
            mlops.insert_model_version(
                conn,
                model_name=family.name,
                mlflow_run_id=run_id,
                model_version=version,
                evaluation=result,
                training_rows=len(train),
                training_window=plan.training_window,
                metadata={
                    **params,
                    "metrics": metrics,
                    "segment_f1": result.segment_f1,
                    "oracle": oracle,
                    "dagster_run_id": context.run.run_id,
                    **basis.to_metadata(),
                },
            )

        context.log.info(
            f"candidate v{version}: F1 {result.f1:.3f}, Brier {result.brier:.3f}, ROC-AUC {result.roc_auc:.3f}"
            + (f", vs oracle {oracle['model_roc_auc']:.3f}/{oracle['oracle_roc_auc']:.3f} = {oracle['ratio']:.3f}"
               if oracle.get("available") else "")
        )
        return dg.MaterializeResult(metadata=_metadata(family, run_id, version, metrics, len(train), basis, config,
                                                       result, oracle))

    return candidate
