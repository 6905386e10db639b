"""The assets, job and schedule of a :class:`~storeml_assets.lifecycle.generic.GenericFamily`, in the family's
own asset group: candidate -> promotion decision -> output table, and the drift monitor.

- ``models/<name>``: the family's tables (over ADBC) -> ``requires`` -> ``prepare`` -> ``fit`` ->
  ``evaluate``; an MLflow run with params, the metrics (the model's, ``baseline/<name>/<metric>`` and
  ``oracle/<metric>``), the evaluation JSON and Markdown, plots, and the model (pyfunc, signature and input
  example) registered as ``challenger``; a ``staging`` row in ``mlops.model_versions`` holding the whole
  evaluation. A :class:`~storeml_assets.lifecycle.generic.Skip` yields no materialization (so nothing
  downstream runs), logs ``skipped: <reason>`` and records an observation with the reason on the asset.
- ``promotion/<name>_decision``: the candidate this run trained (its stored evaluation) and the champion,
  re-evaluated on the same holdout, go through the family's six gates; the decision and the status changes
  are written together, and the ``champion`` alias moves only on promote (inside that transaction).
- ``features/<table>``: the champion's output (a polars frame the IO manager stores).
- ``monitoring/<name>_drift``: the family's drift measures of the current data into
  ``mlops.monitoring_metrics`` (``metric_type`` ``drift``: one row per measure and ``drift_share``).
"""


import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dagster as dg
import mlflow.pyfunc
import pandas as pd
import polars as pl
from mlflow import log_metrics, log_params, set_tags
from pydantic import Field

from storeml_assets import mlops
from storeml_assets.automation import TIMEZONE, default_schedule_status
from storeml_assets.checks_guard import failed_blocking_checks
from storeml_assets.features.training import TRIGGER_CONFIG_TAG, DataBasis
from storeml_assets.io.arrow_types import arrow_to_polars
from storeml_assets.io.pg_tables import TableNotFoundError, read_table
from storeml_assets.jsonsafe import to_json, to_jsonable
from storeml_assets.lifecycle.generic import (
    CANDIDATE_EVALUATION,
    DriftResult,
    Evaluation,
    GateContext,
    GenericFamily,
    Prepared,
    Skip,
    require_rows,
)
from storeml_assets.lifecycle.runs import lineage, materialization_metadata
from storeml_assets.markdown import table as markdown_table
from storeml_assets.ml.gates import GATE_NAMES, Decision
from storeml_assets.ml.mlflow_resource import CHALLENGER, CHAMPION, MlflowTracking, model_requirements
from storeml_assets.ml.reports import gates_markdown
from storeml_assets.resources.postgres import PostgresResource

#: The consistency gate is the family's own; the other five keep their names across families.
SHARED_GATES = GATE_NAMES[:5]


class FamilyCandidateConfig(dg.Config):
    """Knobs of a model family's candidate training."""

    seed: int = Field(default=42, description="Random seed of the split and the model.")


class FamilyDecisionConfig(dg.Config):
    """Gate thresholds of a model family's promotion decision, overriding the family's defaults by name."""

    thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Gate threshold name -> value (the names are the family's gate_defaults; see the asset "
        "description). Unset names keep the family's default.",
    )


# -- data ------------------------------------------------------------------------------------------

def load_frames(url: str, family: GenericFamily) -> dict[str, pl.DataFrame]:
    """The columns ``family.tables`` names, as polars frames keyed by table name; a table that does not exist
    is left out (``requires`` and ``prepare`` decide what that means)."""
    frames: dict[str, pl.DataFrame] = {}
    for qualified, columns in family.tables.items():
        schema, table = qualified.split(".")
        try:
            frames[table] = arrow_to_polars(read_table(url, schema, table, list(columns)))
        except TableNotFoundError:
            continue
    return frames


def check_requirements(family: GenericFamily, frames: Mapping[str, pl.DataFrame]) -> None:
    """:class:`Skip` when a required table is missing or below its minimum."""
    for table, minimum in family.requires.items():
        require_rows(frames, table, minimum, family.purpose)


def data_basis(family: GenericFamily, frames: Mapping[str, pl.DataFrame]) -> dict[str, Any]:
    """What a training attempt saw: each table's row count and a fingerprint of its content, and the code
    version. Two attempts with the same basis trained the same model (gate ``no_regression`` refuses it)."""
    tables = {}
    for name, frame in sorted(frames.items()):
        digest = hashlib.blake2b(digest_size=8)
        if frame.height:
            digest.update(str(frame.hash_rows(seed=0).sum()).encode())
        tables[name] = {"rows": frame.height, "fingerprint": digest.hexdigest()}
    return {"tables": tables, "code_version": family.code_version}


def orders_basis(context: dg.AssetExecutionContext, family: GenericFamily, storeml_db: PostgresResource) -> dict[str, Any]:
    """The orders this attempt could see (newest ``ordered_at`` and count of ``raw.orders``), its code version and
    the retraining-trigger settings that launched it: the data basis the shared retraining sensor compares."""
    trigger = context.run.tags.get(TRIGGER_CONFIG_TAG)
    frame = storeml_db.read_sql("select to_regclass('raw.orders') is not null as present")
    if not bool(frame.iloc[0, 0]):
        return DataBasis(None, None, family.code_version, trigger).to_metadata()
    frame = storeml_db.read_sql("select max(ordered_at) as hwm, count(*) as seen from raw.orders")
    hwm = frame["hwm"].iloc[0]
    return DataBasis(None if pd.isna(hwm) else pd.Timestamp(hwm).to_pydatetime(), int(frame["seen"].iloc[0]),
                     family.code_version, trigger).to_metadata()


def identical_reason(candidate_row: Mapping[str, Any], champion_row: Mapping[str, Any] | None) -> str | None:
    """Why the candidate is the champion's data and code again, or None."""
    if champion_row is None:
        return None
    mine = (candidate_row.get("metadata") or {}).get("data_basis")
    theirs = (champion_row.get("metadata") or {}).get("data_basis")
    if not mine or mine != theirs:
        return None
    rows = ", ".join(f"{t} {v['rows']}" for t, v in mine["tables"].items())
    return (f"trained on exactly the data of champion v{champion_row['model_version']} ({rows} rows) with the same "
            f"code version {mine['code_version']}: not a new model")


def evaluation_to_json(evaluation: Evaluation) -> dict[str, Any]:
    return to_jsonable({"metrics": evaluation.metrics, "baselines": evaluation.baselines,
                        "oracle": evaluation.oracle, "oracle_reason": evaluation.oracle_reason,
                        "details": evaluation.details, "markdown": evaluation.markdown})


def evaluation_from_json(data: Mapping[str, Any]) -> Evaluation:
    def floats(values: Mapping[str, Any] | None) -> dict[str, float]:
        return {k: float("nan") if v is None else float(v) for k, v in (values or {}).items()}

    return Evaluation(metrics=floats(data.get("metrics")),
                      baselines={k: floats(v) for k, v in (data.get("baselines") or {}).items()},
                      oracle=floats(data["oracle"]) if data.get("oracle") else None,
                      oracle_reason=str(data.get("oracle_reason") or ""),
                      details=dict(data.get("details") or {}), markdown=str(data.get("markdown") or ""))


def metrics_markdown(family: GenericFamily, evaluation: Evaluation) -> str:
    """The model's metrics beside each baseline and the oracle, one row per metric."""
    names = [m for m in family.metrics if m in evaluation.metrics]
    header = ["metric", "model", *evaluation.baselines, *(["oracle"] if evaluation.oracle else [])]
    rows = []
    for metric in names:
        row = [metric, _num(evaluation.metrics.get(metric))]
        row += [_num(b.get(metric)) for b in evaluation.baselines.values()]
        if evaluation.oracle:
            row.append(_num(evaluation.oracle.get(metric)))
        rows.append(row)
    return markdown_table(rows, header, right=header[1:], max_width=40)


def _num(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _finite(metrics: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}


def load_version(family: GenericFamily, version: str) -> Any:
    """The family's model object (the fitted ``PythonModel``) of a registered version."""
    return mlflow.pyfunc.load_model(f"models:/{family.name}/{version}").unwrap_python_model()


# -- the candidate ---------------------------------------------------------------------------------

def _log_candidate(family: GenericFamily, mlflow_res: MlflowTracking, context: dg.AssetExecutionContext,
                   model: Any, prepared: Prepared, evaluation: Evaluation, params: dict[str, Any]) -> tuple[str, str]:
    """The MLflow run of a candidate; returns (run id, registered version)."""
    with mlflow_res.start_run(context, run_name=f"{family.name}-{context.run.run_id[:8]}",
                              tags={"storeml.model_name": family.name}) as run:
        log_params(params)
        metrics = _finite(evaluation.metrics)
        for baseline, values in evaluation.baselines.items():
            metrics.update({f"baseline/{baseline}/{k}": v for k, v in _finite(values).items()})
        if evaluation.oracle:
            metrics.update({f"oracle/{k}": v for k, v in _finite(evaluation.oracle).items()})
        log_metrics(metrics)
        files = {"evaluation.json": to_json(evaluation_to_json(evaluation)).encode(),
                 "metrics.md": metrics_markdown(family, evaluation).encode()}
        if evaluation.markdown:
            files["details.md"] = evaluation.markdown.encode()
        mlflow_res.log_files({**files, **evaluation.plots}, artifact_path="evaluation")
        set_tags({"storeml.family_group": family.group})
        info = mlflow.pyfunc.log_model(name="model", python_model=model, input_example=family.input_example(prepared),
                                       pip_requirements=model_requirements())
        version = mlflow_res.register(info.model_uri, family.name, alias=CHALLENGER)
        return run.info.run_id, version


def build_candidate_asset(family: GenericFamily) -> dg.AssetsDefinition:
    """``models/<name>``: train the family, log and register the candidate, record it in mlops."""

    @dg.asset(key=family.model_key, group_name=family.group, deps=family.deps, kinds=set(family.kinds),
              owners=["team:ml"], code_version=family.code_version, description=family.description,
              output_required=False)
    def candidate(context: dg.AssetExecutionContext, config: FamilyCandidateConfig, mlflow: MlflowTracking,
                  storeml_db: PostgresResource):
        failed = failed_blocking_checks(context, family.model_key)
        if failed:
            raise dg.Failure(description=f"refusing to train: blocking checks upstream failed: {', '.join(failed)}",
                             metadata={"failed_checks": dg.MetadataValue.json(failed)})
        frames = load_frames(storeml_db.resolved_url(), family)
        try:
            check_requirements(family, frames)
            prepared = family.prepare(frames, config.seed)
        except Skip as skip:
            context.log.warning(f"{family.name} skipped: {skip}")
            context.log_event(dg.AssetObservation(asset_key=family.model_key,
                                                  metadata={"skipped": dg.MetadataValue.text(str(skip))}))
            return
        context.log.info(f"{family.name}: fitting on {prepared.training_rows} rows")
        model = family.fit(prepared, config.seed)
        evaluation = family.evaluate(model, prepared)
        basis = data_basis(family, frames)
        params = {"model_name": family.name, "seed": config.seed, "training_rows": prepared.training_rows,
                  **{f"rows_{t}": f.height for t, f in frames.items()}, **family.params, **prepared.params}
        run_id, version = _log_candidate(family, mlflow, context, model, prepared, evaluation, params)
        primary = evaluation.metrics.get(family.primary_metric)
        with storeml_db.connect() as conn:
            mlops.insert_family_version(
                conn, model_name=family.name, mlflow_run_id=run_id, model_version=version,
                primary_metric=family.primary_metric, primary_value=primary, training_rows=prepared.training_rows,
                training_window=prepared.window,
                metadata={**params, "metrics": evaluation.metrics, "evaluation": evaluation_to_json(evaluation),
                          "dagster_run_id": context.run.run_id, "data_basis": basis,
                          **orders_basis(context, family, storeml_db)})
        summary = ", ".join(f"{k} {v:.4f}" for k, v in list(_finite(evaluation.metrics).items())[:4])
        context.log.info(f"{family.name} candidate v{version}: {summary}")
        yield dg.MaterializeResult(metadata={
            "mlflow_run_id": dg.MetadataValue.text(run_id),
            "model_version": dg.MetadataValue.text(version),
            "registry_alias": dg.MetadataValue.text(CHALLENGER),
            "training_rows": dg.MetadataValue.int(prepared.training_rows),
            **{name: dg.MetadataValue.float(value) for name, value in _finite(evaluation.metrics).items()},
            "metrics_vs_baselines": dg.MetadataValue.md(metrics_markdown(family, evaluation)),
            "evaluation": dg.MetadataValue.md(evaluation.markdown or "(none)"),
            "oracle": dg.MetadataValue.text("available" if evaluation.oracle else evaluation.oracle_reason or "none"),
            "data_basis": dg.MetadataValue.json(basis),
        })

    return candidate


# -- the decision ----------------------------------------------------------------------------------

def _own_candidate(context: dg.AssetExecutionContext, family: GenericFamily) -> tuple[str, str]:
    """(version, MLflow run id) of the candidate this run trained (in a run without that step: the newest)."""
    key = family.model_key.to_user_string()
    found = materialization_metadata(context.instance, family.model_key, context.run)
    if found is None:
        raise dg.Failure(f"{key} was never materialized: train a candidate first")
    meta, source_run = found
    if source_run not in lineage(context.run):
        context.log.info(f"no candidate trained in this run: judging v{meta['model_version']} of run {source_run}")
    return str(meta["model_version"]), str(meta["mlflow_run_id"])


def decide(family: GenericFamily, ctx: GateContext) -> Decision:
    """The family's six gates, checked for shape, added up to promote or reject."""
    gates = family.gates(ctx)
    names = [g.name for g in gates]
    if len(gates) != 6 or len(set(names)) != 6 or list(SHARED_GATES) != names[:5]:
        raise ValueError(f"model family {family.name!r} must return six gates starting with "
                         f"{', '.join(SHARED_GATES)} and its consistency gate, got {names}")
    failed = [g for g in gates if not g.passed]
    if failed:
        return Decision("reject", gates, "reject: failed gates " + ", ".join(g.name for g in failed) + " — "
                        + "; ".join(f"{g.name}: {g.reason}" for g in failed))
    bootstrap = " (bootstrap: no champion)" if ctx.champion is None else ""
    return Decision("promote", gates, f"promote: all 6 gates passed{bootstrap}")


def build_decision_asset(family: GenericFamily) -> dg.AssetsDefinition:
    """``promotion/<name>_decision``: six gates against the champion on the same holdout."""
    thresholds = ", ".join(f"{k}={v}" for k, v in family.gate_defaults.items())

    @dg.asset(key=family.promotion_key, group_name=family.group, deps=[family.model_key], kinds={"mlflow", "postgres"},
              owners=["team:ml"], code_version="1",
              description=f"Promote or reject the {family.name} candidate: six gates against the champion on the same "
              f"holdout; the champion alias moves only on promote. Thresholds: {thresholds}.")
    def decision(context: dg.AssetExecutionContext, config: FamilyDecisionConfig, mlflow: MlflowTracking,
                 storeml_db: PostgresResource) -> dg.MaterializeResult:
        unknown = sorted(set(config.thresholds) - set(family.gate_defaults))
        if unknown:
            raise dg.Failure(f"unknown gate threshold(s) {unknown} for {family.name}; "
                             f"known: {', '.join(family.gate_defaults)}")
        version, run_id = _own_candidate(context, family)
        with storeml_db.connect() as conn:
            row = mlops.model_version_row(conn, run_id)
            earlier = mlops.decision_of(conn, run_id)
        if row is None:
            raise dg.Failure(f"candidate run {run_id} (v{version}) has no model-version row in mlops")
        if earlier is not None:
            raise dg.Failure(f"candidate v{version} already has decision #{earlier['id']} ({earlier['action']}): "
                             "a model version gets one decision; train a new candidate")
        champion_version = mlflow.alias_version(family.name, CHAMPION)
        if champion_version == version:
            raise dg.Failure(f"candidate version {version} is already the champion: train a new candidate first")
        metadata = row["metadata"] or {}
        candidate = evaluation_from_json(metadata.get("evaluation") or {})
        frames = load_frames(storeml_db.resolved_url(), family)
        prepared = family.prepare(frames, int(metadata.get("seed", 42)))
        prepared.extra[CANDIDATE_EVALUATION] = candidate
        champion = champion_row = None
        if champion_version is not None:
            champion = family.evaluate(load_version(family, champion_version), prepared)
            champion_run = mlflow.client().get_model_version(family.name, champion_version).run_id
            with storeml_db.connect() as conn:
                champion_row = mlops.model_version_row(conn, champion_run) if champion_run else None
        drift = family.drift(prepared, frames)
        ctx = GateContext(candidate=candidate, champion=champion, training_rows=int(row["training_rows"] or 0),
                          failed_checks=failed_blocking_checks(context, family.promotion_key), drift=drift,
                          identical_to_champion=identical_reason(row, champion_row),
                          thresholds={**family.gate_defaults, **config.thresholds})
        verdict = decide(family, ctx)
        champion_run_id = champion_row["mlflow_run_id"] if champion_row else None
        with storeml_db.connect() as conn:
            try:
                decision_id = mlops.record_decision(conn, model_name=family.name, decision=verdict,
                                                    candidate_run_id=run_id, champion_run_id=champion_run_id,
                                                    dagster_run_id=context.run.run_id)
            except mlops.DecisionExistsError as exc:
                raise dg.Failure(str(exc)) from None
            mlops.apply_decision(conn, model_name=family.name, action=verdict.action, candidate_run_id=run_id)
            if verdict.action == "promote":
                mlflow.promote(family.name, version)
        context.log.info(f"{family.name} {verdict.action} v{version}: {verdict.reasoning}")
        primary = family.primary_metric
        return dg.MaterializeResult(metadata={
            "action": dg.MetadataValue.text(verdict.action),
            "reasoning": dg.MetadataValue.text(verdict.reasoning),
            "gates": dg.MetadataValue.md(gates_markdown(verdict)),
            "failed_gates": dg.MetadataValue.json(verdict.failed_gates),
            "decision_id": dg.MetadataValue.int(decision_id),
            "candidate_version": dg.MetadataValue.text(version),
            "champion_version": dg.MetadataValue.text(champion_version or "none"),
            f"candidate_{primary}": dg.MetadataValue.float(candidate.metrics.get(primary, float("nan"))),
            f"champion_{primary}": (dg.MetadataValue.float(champion.metrics.get(primary, float("nan")))
                                    if champion else dg.MetadataValue.text("none")),
            "drift_verdict": dg.MetadataValue.text(drift.reason),
        })

    return decision


# -- output and drift ------------------------------------------------------------------------------

def build_output_asset(family: GenericFamily) -> dg.AssetsDefinition:
    """``features/<table>``: the champion's output for the current data."""
    schema, table = family.output_key.path

    @dg.asset(key=family.output_key, group_name=family.group, deps=[family.promotion_key, *family.deps],
              kinds={"polars", "postgres"}, owners=["team:ml"], code_version=family.code_version,
              io_manager_key="io_manager", output_required=False,
              description=f"{schema}.{table}: the {family.name} champion's output for the current data (skipped while "
              "the family has no champion: its first candidate was rejected).")
    def output(context: dg.AssetExecutionContext, mlflow: MlflowTracking, storeml_db: PostgresResource):
        version = mlflow.alias_version(family.name, CHAMPION)
        if version is None:
            reason = (f"{family.name} has no champion yet: its first candidate was rejected "
                      f"(see {family.promotion_key.to_user_string()})")
            context.log.warning(f"{family.output_key.to_user_string()} skipped: {reason}")
            context.log_event(dg.AssetObservation(asset_key=family.output_key,
                                                  metadata={"skipped": dg.MetadataValue.text(reason)}))
            return
        frames = load_frames(storeml_db.resolved_url(), family)
        frame = family.output(load_version(family, version), frames, version)
        yield dg.Output(frame, metadata={"model_version": dg.MetadataValue.text(version),
                                         "preview": dg.MetadataValue.md(_preview(frame))})

    return output


def _preview(frame: pl.DataFrame, rows: int = 10) -> str:
    head = frame.head(rows)
    return markdown_table([[_cell(v) for v in r] for r in head.iter_rows()], head.columns, max_width=60)


def _cell(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class _DriftRow:
    """One ``mlops.monitoring_metrics`` row of a family's drift (the :class:`~storeml_assets.mlops.monitoring.MetricParams` shape)."""

    metric_name: str
    metric_value: float | None
    model_name: str
    model_version: str | None
    metadata: Mapping[str, Any]

    def params(self) -> dict[str, Any]:
        return {"metric_type": "drift", "metric_name": self.metric_name, "metric_value": self.metric_value,
                "model_name": self.model_name, "model_version": self.model_version,
                "metadata": json.dumps(to_jsonable(dict(self.metadata)))}


def drift_rows(family: GenericFamily, drift: DriftResult, version: str | None, at: datetime) -> list[_DriftRow]:
    common = {"reason": drift.reason, "judged": drift.judged, "measured_at": at.isoformat()}
    rows = [_DriftRow("drift_share", drift.share, family.name, version,
                      {**common, "drifted": drift.drifted, "measures": drift.measures})]
    rows += [_DriftRow(name, value if math.isfinite(value) else None, family.name, version,
                       {**common, "drifted": name in drift.drifted}) for name, value in drift.measures.items()]
    return rows


def build_drift_asset(family: GenericFamily) -> dg.AssetsDefinition:
    """``monitoring/<name>_drift``: the family's drift measures into ``mlops.monitoring_metrics``."""

    @dg.asset(key=family.drift_key, group_name=family.group, deps=family.deps, kinds={"postgres"},
              owners=["team:ml"], code_version=family.code_version,
              description=f"Drift of the {family.name} family's data in its own terms (training window against now), "
              "into mlops.monitoring_metrics.")
    def drift(context: dg.AssetExecutionContext, mlflow: MlflowTracking,
              storeml_db: PostgresResource) -> dg.MaterializeResult:
        frames = load_frames(storeml_db.resolved_url(), family)
        try:
            check_requirements(family, frames)
            prepared = family.prepare(frames, 42)
        except Skip as skip:
            return dg.MaterializeResult(metadata={"skipped": dg.MetadataValue.text(str(skip))})
        result = family.drift(prepared, frames)
        version = mlflow.alias_version(family.name, CHAMPION)
        with storeml_db.connect() as conn:
            ids = mlops.insert_metrics(conn, drift_rows(family, result, version, datetime.now().astimezone()))
        context.log.info(f"{family.name} drift: {result.reason}")
        return dg.MaterializeResult(metadata={
            "drift_share": dg.MetadataValue.float(result.share) if result.share is not None
            else dg.MetadataValue.text("n/a"),
            "verdict": dg.MetadataValue.text(result.reason),
            "drifted": dg.MetadataValue.json(result.drifted),
            "measures": dg.MetadataValue.json(to_jsonable(result.measures)),
            "metric_ids": dg.MetadataValue.json(ids),
        })

    return drift


def build_family_defs(family: GenericFamily) -> dg.Definitions:
    """The family's four assets, its retraining job and its daily schedule."""
    job = dg.define_asset_job(
        family.job_name,
        selection=dg.AssetSelection.assets(family.model_key, family.promotion_key, family.output_key, family.drift_key),
        tags={"storeml/job": "retraining", "storeml/model": family.name},
        description=f"Train a {family.name} candidate, decide its promotion, write {family.output_key.to_user_string()} "
        "from the champion, and measure drift.",
    )
    schedule = dg.ScheduleDefinition(name=f"{family.name}_daily_schedule", job=job, cron_schedule="30 3 * * *",
                                     execution_timezone=TIMEZONE, default_status=default_schedule_status())
    return dg.Definitions(
        assets=[build_candidate_asset(family), build_decision_asset(family), build_output_asset(family),
                build_drift_asset(family)],
        jobs=[job],
        schedules=[schedule],
    )
