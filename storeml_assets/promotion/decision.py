"""The promotion decision of a model family (group ``promotion``): six gates, then promote or reject.

:func:`build_promotion_asset` turns a :class:`~storeml_assets.lifecycle.family.ModelFamily` into its
decision asset (``promotion/promotion_decision`` for purchase propensity), a ``dg.MaterializeResult``:
the decision lives in the mlops tables (:mod:`storeml_assets.mlops`) and the registry alias
``champion``, which moves only on promote.

The step judges exactly the candidate its own upstream step produced: the run id and version come
from the family's candidate materialization of the same run (or, in a run without it, the newest
one), never from the shared ``challenger`` alias; a candidate gets one decision.
"""

from typing import Any

import dagster as dg
import polars as pl
from mlflow.sklearn import load_model as load_sklearn_model
from pydantic import Field

from storeml_assets import mlops
from storeml_assets.checks_guard import failed_blocking_checks
from storeml_assets.features.customer import customer_drift
from storeml_assets.features.training import DataBasis, split_training_set
from storeml_assets.keys import PROMOTION_GROUP
from storeml_assets.lifecycle.family import ModelFamily
from storeml_assets.lifecycle.runs import lineage, materialization_metadata
from storeml_assets.ml.gates import GateConfig, evaluate_gates, gate_results_json
from storeml_assets.ml.mlflow_resource import CHAMPION, MlflowTracking
from storeml_assets.ml.reports import gates_markdown
from storeml_assets.resources.postgres import PostgresResource


def promotion_config_class(gates: GateConfig) -> type[dg.Config]:
    """The run config of a promotion decision: the six gates' thresholds, defaulting to ``gates``."""

    class PromotionConfig(dg.Config):
        """Thresholds of the six promotion gates (defaults: the model family's gate thresholds)."""

        min_training_rows: int = Field(default=gates.min_training_rows,
                                       description="Gate 1 data_volume: minimum training rows of the candidate.")
        f1_floor: float = Field(default=gates.f1_floor, description="Gate 2 performance_floor: minimum holdout F1.")
        roc_auc_floor: float = Field(default=gates.roc_auc_floor,
                                     description="Gate 2 performance_floor: minimum holdout ROC-AUC.")
        f1_regression_tolerance: float = Field(
            default=gates.f1_regression_tolerance,
            description="Gate 3 no_regression: the candidate's F1 may trail the champion's by at most this much.",
        )
        brier_tolerance: float = Field(
            default=gates.brier_tolerance,
            description="Gate 4 calibration: the candidate's Brier may exceed the champion's by at most this much.",
        )
        brier_max: float = Field(default=gates.brier_max,
                                 description="Gate 4 calibration: absolute maximum Brier score.")
        drift_share_max: float = Field(
            default=gates.drift_share_max,
            description="Gate 5 data_drift: maximum share of drifted drift columns (the trailing-window profile of "
            "active customers) between the candidate's training rows and the current features.",
        )
        segment_f1_floor: float = Field(default=gates.segment_f1_floor,
                                        description="Gate 6 segment_consistency: minimum F1 of every segment.")
        segment_f1_gap_max: float = Field(
            default=gates.segment_f1_gap_max,
            description="Gate 6 segment_consistency: maximum F1 gap between the best and worst segment of a column.",
        )
        min_segment_rows: int = Field(default=gates.min_segment_rows,
                                      description="Gate 6: segments with fewer holdout rows are ignored.")
        min_segment_positives: int = Field(default=gates.min_segment_positives,
                                           description="Gate 6: segments with fewer positive labels are ignored.")

        def gate_config(self) -> GateConfig:
            return GateConfig(**{name: getattr(self, name) for name in GateConfig.__dataclass_fields__})

    return PromotionConfig


#: The promotion config with the default gate thresholds.
PromotionConfig = promotion_config_class(GateConfig())


def identical_data_reason(candidate: dict[str, Any], champion: dict[str, Any] | None) -> str | None:
    """Why the candidate brings nothing new (same data basis and code version as the champion), or None.

    ``candidate`` / ``champion`` are model-version rows (:func:`storeml_assets.mlops.model_version_row`);
    a row without a recorded basis (trained before bases were recorded) is never called identical.
    """
    if champion is None:
        return None
    mine = DataBasis.from_metadata(candidate.get("metadata"))
    theirs = DataBasis.from_metadata(champion.get("metadata"))
    if mine is None or theirs is None or not mine.same_data(theirs) or mine.code_version != theirs.code_version:
        return None
    return (f"trained on exactly the data of champion v{champion['model_version']} ({mine.describe()}) with the "
            f"same code version {mine.code_version}: not a new model")


def _registry_run_id(mlflow: MlflowTracking, model_name: str, alias: str) -> tuple[str, str] | None:
    """(version, run id) the alias points at, or None."""
    version = mlflow.alias_version(model_name, alias)
    if version is None:
        return None
    run_id = mlflow.client().get_model_version(model_name, version).run_id
    return None if run_id is None else (version, run_id)


def _own_candidate(context: dg.AssetExecutionContext, family: ModelFamily) -> tuple[str, str]:
    """(version, MLflow run id) of the candidate this run's candidate step produced (in a run without
    that step: its newest materialization)."""
    key = family.model_key.to_user_string()
    found = materialization_metadata(context.instance, family.model_key, context.run)
    if found is None:
        raise dg.Failure(f"{key} was never materialized: train a candidate first")
    meta, source_run = found
    run_id, version = meta.get("mlflow_run_id"), meta.get("model_version")
    if not run_id or not version:
        raise dg.Failure(f"the {key} materialization of Dagster run {source_run} names no mlflow_run_id/model_version")
    if source_run not in lineage(context.run):
        context.log.info(f"no candidate trained in this run: judging v{version} (MLflow run {run_id}) "
                         f"trained by Dagster run {source_run}")
    return str(version), str(run_id)


def _decision_metadata(decision: Any, decision_id: int, version: str, candidate_run_id: str,
                       champion: tuple[str, str] | None, candidate: Any, champion_result: Any, drift: Any,
                       failed: list[str]) -> dict[str, Any]:
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
    return meta


def build_promotion_asset(family: ModelFamily) -> dg.AssetsDefinition:
    """The family's promotion decision: six gates against the champion on the same holdout."""
    config_class = promotion_config_class(family.gates)

    @dg.asset(
        key=family.promotion_key,
        group_name=PROMOTION_GROUP,
        deps=[family.model_key],
        ins={
            "training_set": dg.AssetIn(key=family.training_set_key),
            "customer_features": dg.AssetIn(key=family.features_key),
        },
        kinds={"mlflow", "postgres"},
        owners=["team:ml"],
        code_version="1",
        description=f"Promote or reject the {family.name} candidate trained upstream in this run: six gates against "
        "the champion on the same holdout; the champion alias moves only on promote.",
    )
    def promotion_decision(
        context: dg.AssetExecutionContext,
        config: config_class,  # type: ignore[valid-type]
        mlflow: MlflowTracking,
        storeml_db: PostgresResource,
        training_set: pl.DataFrame,
        customer_features: pl.DataFrame,
    ) -> dg.MaterializeResult:
        version, candidate_run_id = _own_candidate(context, family)
        with storeml_db.connect() as conn:
            row = mlops.model_version_row(conn, candidate_run_id)
            earlier = mlops.decision_of(conn, candidate_run_id)
        if row is None:
            raise dg.Failure(f"candidate run {candidate_run_id} (v{version}) has no model-version row in mlops")
        if earlier is not None:
            raise dg.Failure(f"candidate v{version} (MLflow run {candidate_run_id}) already has decision "
                             f"#{earlier['id']} ({earlier['action']}): a model version gets one decision; "
                             "train a new candidate")
        champion = _registry_run_id(mlflow, family.name, CHAMPION)
        if champion is not None and champion[0] == version:
            raise dg.Failure(f"candidate version {version} is already the champion: train a new candidate first")

        train, holdout = split_training_set(training_set)
        candidate = family.evaluate(load_sklearn_model(f"models:/{family.name}/{version}"), holdout)
        champion_result = None
        if champion is not None:
            champion_result = family.evaluate(mlflow.load_champion(family.name), holdout)

        gates = config.gate_config()  # type: ignore[attr-defined]
        # the one drift comparison (the family's drift columns of the active customers), shared with monitoring
        drift = customer_drift(pl.from_pandas(train), customer_features,
                               drift_share_threshold=max(min(gates.drift_share_max, 1.0), 1e-9),
                               columns=family.drift_columns)
        failed = failed_blocking_checks(context, family.promotion_key)
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
                    model_name=family.name,
                    decision=decision,
                    candidate_run_id=candidate_run_id,
                    champion_run_id=champion[1] if champion else None,
                    dagster_run_id=context.run.run_id,
                )
            except mlops.DecisionExistsError as exc:
                raise dg.Failure(str(exc)) from None
            mlops.apply_decision(conn, model_name=family.name, action=decision.action,
                                 candidate_run_id=candidate_run_id)
            if decision.action == "promote":
                mlflow.promote(family.name, version)  # inside the transaction: a registry error rolls the rows back

        context.log.info(f"{decision.action} version {version}: {decision.reasoning}")
        return dg.MaterializeResult(metadata=_decision_metadata(decision, decision_id, version, candidate_run_id,
                                                                champion, candidate, champion_result, drift, failed))

    return promotion_decision
