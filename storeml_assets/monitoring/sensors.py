"""The retraining sensor: drift (of the features or of the served inputs), new-data volume, model age or no
champion request the retraining job.

Decisions are made by :func:`storeml_assets.monitoring.metrics.evaluate_triggers` from what the
``mlops`` tables and ``raw.orders`` say now and from the cursor (JSON: the last ``drift_share`` and
``served_drift_share`` row ids seen, the last trigger key per kind and the last run key requested).
``served_drift_share`` (written by the monitoring group's served-predictions asset) fires the
``served_drift`` trigger above the same drift-share threshold; a null share (too few served rows) never fires. New data is data the newest
training attempt (the mlops ``model_versions`` table, promoted or rejected) did not see: while the orders, the
training code version and these thresholds are the ones it recorded, the sensor skips with "no new
data since the last training attempt vN (HWM ...)" (naming a served drift above the threshold it does not act
on), so an idle platform never retrains. The run key
is the data state (``retrain:<hwm>:<orders>:code<v>:cfg<fp>``): one data state gets one run, even
after a daemon restart that lost the cursor (Dagster does not launch a run key twice). While a
retraining run is queued or running, the sensor waits for it. Each trigger is written once to
the mlops ``monitoring_metrics`` table (metric_type ``trigger``, keyed by its run key).

Thresholds come from the settings (environment variables, read when the code location loads):
``STOREML_RETRAIN_DRIFT_SHARE`` (default: gate ``data_drift``'s 0.3; feature and served-input drift), ``STOREML_RETRAIN_NEW_ORDERS_SHARE``
(0.5), ``STOREML_RETRAIN_MAX_AGE_DAYS`` (30), ``STOREML_RETRAIN_BOOTSTRAP`` (true), and the tick interval
``STOREML_RETRAIN_SENSOR_INTERVAL_SECONDS`` (60).
"""

from datetime import UTC, datetime

import dagster as dg

from storeml_assets import mlops
from storeml_assets.lifecycle.family import ModelFamily
from storeml_assets.lifecycle.generic import GenericFamily
from storeml_assets.ml.gates import GateConfig
from storeml_assets.monitoring import metrics, store
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.settings import get_settings

#: Runs in these states hold the sensor back: their attempt is not recorded yet.
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def interval_from_env() -> int:
    """Seconds between the sensor's evaluations (settings: ``STOREML_RETRAIN_SENSOR_INTERVAL_SECONDS``, default 60)."""
    return get_settings().retrain_sensor_interval_seconds


def trigger_config_from_env() -> metrics.TriggerConfig:
    """The sensor's thresholds from the settings (``STOREML_RETRAIN_*``, see the module docstring)."""
    settings = get_settings()
    drift = settings.retrain_drift_share
    return metrics.TriggerConfig(
        drift_share_threshold=GateConfig().drift_share_max if drift is None else drift,
        new_orders_share=settings.retrain_new_orders_share,
        max_model_age_days=settings.retrain_max_age_days,
        bootstrap=settings.retrain_bootstrap,
    )


def read_state(storeml_db: PostgresResource, now: datetime, family: ModelFamily | GenericFamily) -> metrics.MonitoringState:
    """What the family's sensor decides on: its newest drift share and served-input drift share, champion and
    training attempt, the orders now and those after the attempt's high-water mark."""
    with storeml_db.connect() as conn:
        attempt = store.newest_attempt(conn, family.name)
        return metrics.MonitoringState(
            now=now,
            latest_drift=store.latest_drift(conn, family.name),
            champion=store.champion_state(conn, family.name),
            new_orders=store.orders_after(conn, attempt.high_water_mark) if attempt else None,
            latest_order_at=store.latest_order_at(conn),
            attempt=attempt,
            order_count=store.order_count(conn),
            code_version=family.code_version,
            latest_served_drift=store.latest_served_drift(conn, family.name),
        )


def retraining_in_flight(instance: dg.DagsterInstance, job_name: str) -> str | None:
    """The id of a queued or running run of ``job_name``, or None."""
    records = instance.get_run_records(filters=dg.RunsFilter(job_name=job_name, statuses=IN_FLIGHT), limit=1)
    return records[0].dagster_run.run_id if records else None


def build_retraining_sensor(
    family: ModelFamily | GenericFamily,
    config: metrics.TriggerConfig | None = None,
    *,
    default_status: dg.DefaultSensorStatus | None = None,
) -> dg.SensorDefinition:
    """The family's retraining sensor over its retraining job (thresholds default to :func:`trigger_config_from_env`)."""
    config = config or trigger_config_from_env()
    job_name = family.job_name
    if default_status is None:
        default_status = (dg.DefaultSensorStatus.RUNNING if get_settings().automation_enabled
                          else dg.DefaultSensorStatus.STOPPED)

    @dg.sensor(
        name=family.sensor_name,
        job_name=job_name,
        minimum_interval_seconds=interval_from_env(),
        default_status=default_status,
        description=(
            f"Retrain on data the last training attempt did not see, when the feature or served-input drift "
            f"share exceeds {config.drift_share_threshold:g}, new orders since that attempt exceed {config.new_orders_share:g} x "
            f"its training rows, the champion is older than {config.max_model_age_days} days, or there is no "
            "champion yet."
        ),
    )
    def retraining_sensor(context: dg.SensorEvaluationContext, storeml_db: PostgresResource) -> dg.SensorResult:
        cursor = metrics.SensorCursor.from_json(context.cursor)
        running = retraining_in_flight(context.instance, job_name)
        if running is not None:
            return dg.SensorResult(skip_reason=f"retraining run {running} is queued or running: waiting for its "
                                               "training attempt", cursor=cursor.to_json())
        state = read_state(storeml_db, datetime.now(UTC), family)
        triggers, new_cursor = metrics.evaluate_triggers(state, cursor, config)
        if not triggers:
            return dg.SensorResult(skip_reason=_quiet_reason(state, config, cursor), cursor=new_cursor.to_json())
        run_key = metrics.combined_run_key(triggers)
        with storeml_db.connect() as conn:
            for trig in triggers:
                mlops.insert_trigger_once(conn, trig.metric_row())
        for trig in triggers:
            context.log.info(f"retraining trigger {trig.kind}: {trig.reason} (run key {run_key})")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=run_key, tags=metrics.trigger_tags(triggers, config))],
            cursor=new_cursor.to_json(),
        )

    return retraining_sensor


def _quiet_reason(state: metrics.MonitoringState, config: metrics.TriggerConfig, cursor: metrics.SensorCursor) -> str:
    unchanged = metrics.unchanged_since_attempt(state, config)
    if unchanged is not None:
        ignored = metrics.served_drift_above(state, config)
        return f"{ignored}, but {unchanged}" if ignored else unchanged
    if cursor.last_run_key and cursor.last_run_key == metrics.basis_key(state.current_basis(config)):
        return f"already requested run {cursor.last_run_key} for this data"
    drift = state.latest_drift
    parts = [f"drift share {drift.drift_share:.3f} (row {drift.metric_id}) <= {config.drift_share_threshold:g}"
             if drift else "no drift measured yet"]
    served = state.latest_served_drift
    if served is None:
        parts.append("no served-input drift measured yet")
    elif served.drift_share is None:
        parts.append(f"served-input drift not compared (row {served.metric_id}: too few served rows)")
    elif served.drift_share > config.drift_share_threshold:
        parts.append(f"served-input drift share {served.drift_share:.3f} (row {served.metric_id}) already seen")
    else:
        parts.append(f"served-input drift share {served.drift_share:.3f} (row {served.metric_id}) "
                     f"<= {config.drift_share_threshold:g}")
    if state.champion is None:
        parts.append("no champion and no raw orders" if state.latest_order_at is None else "no champion")
    else:
        parts.append(f"champion v{state.champion.model_version}")
    attempt = state.attempt
    if attempt is not None:
        rows = f" = {state.new_orders / attempt.training_rows:.2f} x its training rows" if (
            attempt.training_rows and state.new_orders is not None) else ""
        parts.append(f"new orders since attempt v{attempt.model_version}: {state.new_orders}{rows} "
                     f"<= {config.new_orders_share:g}")
    return "no retraining trigger: " + "; ".join(parts)
