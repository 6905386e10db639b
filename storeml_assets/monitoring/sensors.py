"""The retraining sensor: drift, new-data volume, model age or no champion request the retraining job.

Decisions are made by :func:`storeml_assets.monitoring.metrics.evaluate_triggers` from what the
``mlops`` tables and ``raw.orders`` say now and from the cursor (JSON: the last drift row id seen
and the last run key fired per trigger kind). The triggers of one evaluation make one run whose run
key joins theirs (``drift:42``, ``bootstrap:2026-10-31+drift:42``), so a re-evaluation after a
restart with an old cursor asks for the same run key and Dagster does not launch it twice; each
trigger is written once to ``mlops.monitoring_metrics`` (metric_type ``trigger``, keyed by run key).

Thresholds come from environment variables (read when the code location loads):
``STOREML_RETRAIN_DRIFT_SHARE`` (default: gate ``data_drift``'s 0.3), ``STOREML_RETRAIN_NEW_ORDERS_SHARE``
(0.5), ``STOREML_RETRAIN_MAX_AGE_DAYS`` (30), ``STOREML_RETRAIN_BOOTSTRAP`` (true).
"""

import os
from datetime import UTC, datetime

import dagster as dg

from storeml_assets.ml.gates import GateConfig
from storeml_assets.models.jobs import RETRAINING_JOB_NAME
from storeml_assets.monitoring import metrics, store
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.settings import get_settings

RETRAINING_SENSOR_NAME = "retraining_sensor"
MINIMUM_INTERVAL_SECONDS = 60


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def trigger_config_from_env() -> metrics.TriggerConfig:
    """The sensor's thresholds from ``STOREML_RETRAIN_*`` (see the module docstring)."""
    bootstrap = os.environ.get("STOREML_RETRAIN_BOOTSTRAP", "true").strip().lower()
    if bootstrap not in {"1", "true", "yes", "on", "0", "false", "no", "off", ""}:
        raise ValueError(f"STOREML_RETRAIN_BOOTSTRAP must be true or false, got {bootstrap!r}")
    return metrics.TriggerConfig(
        drift_share_threshold=_env_float("STOREML_RETRAIN_DRIFT_SHARE", GateConfig().drift_share_max),
        new_orders_share=_env_float("STOREML_RETRAIN_NEW_ORDERS_SHARE", 0.5),
        max_model_age_days=int(_env_float("STOREML_RETRAIN_MAX_AGE_DAYS", 30)),
        bootstrap=bootstrap not in {"0", "false", "no", "off"},
    )


def read_state(storeml_db: PostgresResource, now: datetime, model_name: str | None = None) -> metrics.MonitoringState:
    """What the sensor decides on: newest drift share, champion, orders since its training."""
    with storeml_db.connect() as conn:
        champion = store.champion_state(conn, model_name)
        return metrics.MonitoringState(
            now=now,
            latest_drift=store.latest_drift(conn),
            champion=champion,
            new_orders=store.orders_after(conn, champion.training_window_end) if champion else None,
            latest_order_at=store.latest_order_at(conn),
        )


def build_retraining_sensor(
    config: metrics.TriggerConfig | None = None,
    *,
    job_name: str = RETRAINING_JOB_NAME,
    default_status: dg.DefaultSensorStatus | None = None,
    model_name: str | None = None,
) -> dg.SensorDefinition:
    """The retraining sensor over ``job_name`` (thresholds default to :func:`trigger_config_from_env`)."""
    config = config or trigger_config_from_env()
    if default_status is None:
        default_status = (dg.DefaultSensorStatus.RUNNING if get_settings().automation_enabled
                          else dg.DefaultSensorStatus.STOPPED)

    @dg.sensor(
        name=RETRAINING_SENSOR_NAME,
        job_name=job_name,
        minimum_interval_seconds=MINIMUM_INTERVAL_SECONDS,
        default_status=default_status,
        description=(
            f"Retrain when the drift share exceeds {config.drift_share_threshold:g}, new orders since the "
            f"champion's training exceed {config.new_orders_share:g} x its training rows, the champion is older "
            f"than {config.max_model_age_days} days, or there is no champion yet."
        ),
    )
    def retraining_sensor(context: dg.SensorEvaluationContext, storeml_db: PostgresResource) -> dg.SensorResult:
        cursor = metrics.SensorCursor.from_json(context.cursor)
        state = read_state(storeml_db, datetime.now(UTC), model_name)
        triggers, new_cursor = metrics.evaluate_triggers(state, cursor, config)
        if not triggers:
            return dg.SensorResult(skip_reason=_quiet_reason(state, config), cursor=new_cursor.to_json())
        run_key = metrics.combined_run_key(triggers)
        with storeml_db.connect() as conn:
            for trig in triggers:
                store.insert_trigger_once(conn, trig.metric_row())
        for trig in triggers:
            context.log.info(f"retraining trigger {trig.kind}: {trig.reason} (run key {trig.run_key})")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=run_key, tags=metrics.trigger_tags(triggers))],
            cursor=new_cursor.to_json(),
        )

    return retraining_sensor


def _quiet_reason(state: metrics.MonitoringState, config: metrics.TriggerConfig) -> str:
    drift = state.latest_drift
    parts = [f"drift share {drift.drift_share:.3f} (row {drift.metric_id}) <= {config.drift_share_threshold:g}"
             if drift else "no drift measured yet"]
    if state.champion is None:
        parts.append("no champion and no raw orders" if state.latest_order_at is None else "no champion")
    else:
        parts.append(f"champion v{state.champion.model_version}; new orders {state.new_orders}")
    return "no retraining trigger: " + "; ".join(parts)


retraining_sensor = build_retraining_sensor()

SENSORS: list[dg.SensorDefinition] = [retraining_sensor]
