"""The retraining sensor evaluated against a real Dagster instance and real mlops rows in Postgres."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from storeml_assets.features.training import DataBasis
from storeml_assets.keys import PURCHASE_PROPENSITY_CODE_VERSION as MODEL_CODE_VERSION
from storeml_assets.keys import RETRAINING_JOB_NAME
from storeml_assets.models.purchase_propensity import FAMILY
from storeml_assets.monitoring import metrics
from storeml_assets.monitoring.metrics import SensorCursor, TriggerConfig
from storeml_assets.monitoring.sensors import build_retraining_sensor
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets_tests.monitoring.helpers import (
    execute,
    insert_metric,
    insert_model_version,
    migrate_storeml,
)

CONFIG = TriggerConfig(drift_share_threshold=0.3, new_orders_share=0.5, max_model_age_days=30)


@pytest.fixture
def storeml_url(isolated_env) -> str:
    return migrate_storeml()


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def _orders(url: str, times: list[datetime]) -> None:
    execute(url, "create table if not exists raw.orders (order_id bigint primary key, ordered_at timestamptz not null)")
    start = execute(url, "select coalesce(max(order_id), 0) from raw.orders")[0][0]
    for i, moment in enumerate(times, start=start + 1):
        execute(url, "insert into raw.orders values (%s, %s)", (i, moment))


def _tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None):
    resources = {"storeml_db": PostgresResource(database="storeml")}
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        return sensor.evaluate_tick(context)


def _triggers(url: str) -> list[tuple]:
    return execute(url, "select metric_name, metric_value, metadata from mlops.monitoring_metrics "
                        "where metric_type = 'trigger' order by id")


def _basis(hwm: datetime, orders: int) -> dict:
    return DataBasis(hwm, orders, MODEL_CODE_VERSION, None).to_metadata()


def _fresh_champion(url: str) -> datetime:
    """A champion trained 2 days ago on two orders; a third order came after it. Returns its HWM."""
    now = datetime.now(UTC)
    hwm = now - timedelta(days=10)
    _orders(url, [now - timedelta(days=20), hwm])
    insert_model_version(url, version="1", status="production", created_at=now - timedelta(days=2),
                         training_window_end=now - timedelta(days=40), promoted_at=now - timedelta(days=1),
                         training_rows=1000, metadata=_basis(hwm, 2))
    _orders(url, [now - timedelta(days=5)])
    return hwm


def _data_key(url: str) -> str:
    latest, count = execute(url, "select max(ordered_at), count(*) from raw.orders")[0]
    return metrics.basis_key(DataBasis(latest, count, MODEL_CODE_VERSION, CONFIG.fingerprint()))


def test_drift_fires_once_per_data_state(storeml_url: str, instance: dg.DagsterInstance) -> None:
    sensor = build_retraining_sensor(FAMILY, CONFIG)
    assert sensor.job_name == RETRAINING_JOB_NAME
    _fresh_champion(storeml_url)

    quiet = _tick(sensor, instance, None)  # a champion, nothing measured yet
    assert quiet.run_requests == [] and "no drift measured" in (quiet.skip_message or "")

    low = insert_metric(storeml_url, "drift", "drift_share", 0.1)
    before = _tick(sensor, instance, quiet.cursor)
    assert before.run_requests == []
    assert SensorCursor.from_json(before.cursor).drift_metric_id == low
    assert _triggers(storeml_url) == []

    high = insert_metric(storeml_url, "drift", "drift_share", 0.6)
    fired = _tick(sensor, instance, before.cursor)
    assert len(fired.run_requests) == 1
    request = fired.run_requests[0]
    key = _data_key(storeml_url)
    assert request.run_key == key
    assert request.tags["storeml/trigger"] == "drift"
    assert request.tags["storeml/trigger.config"] == CONFIG.fingerprint()
    assert float(request.tags["storeml/trigger.drift.value"]) == pytest.approx(0.6)
    assert float(request.tags["storeml/trigger.drift.threshold"]) == pytest.approx(0.3)
    rows = _triggers(storeml_url)
    assert len(rows) == 1 and rows[0][0] == "trigger:drift" and rows[0][1] == pytest.approx(0.6)
    assert rows[0][2]["run_key"] == f"drift:{high}@{key}" and rows[0][2]["drift_metric_id"] == high

    again = _tick(sensor, instance, fired.cursor)  # the stored cursor: nothing new
    assert again.run_requests == []
    # a fresh context carrying the returned cursor (as after a daemon restart) stays quiet too
    restarted = _tick(build_retraining_sensor(FAMILY, CONFIG), instance, json.loads(json.dumps(fired.cursor)))
    assert restarted.run_requests == []
    # a restart that lost the last cursor asks for the same run key (Dagster skips it) and writes no second row
    replay = _tick(sensor, instance, before.cursor)
    assert [r.run_key for r in replay.run_requests] == [key]
    assert len(_triggers(storeml_url)) == 1

    # a newer high measurement on the same data asks for no second run; after new orders it does
    insert_metric(storeml_url, "drift", "drift_share", 0.8)
    same = _tick(sensor, instance, fired.cursor)
    assert same.run_requests == [] and same.skip_message == f"already requested run {key} for this data"
    _orders(storeml_url, [datetime.now(UTC) - timedelta(hours=1)])
    higher = insert_metric(storeml_url, "drift", "drift_share", 0.8)
    second = _tick(sensor, instance, same.cursor)
    assert [r.run_key for r in second.run_requests] == [_data_key(storeml_url)] != [key]
    assert _triggers(storeml_url)[-1][2]["drift_metric_id"] == higher


def test_served_drift_fires_on_new_data_only(storeml_url: str, instance: dg.DagsterInstance) -> None:
    sensor = build_retraining_sensor(FAMILY, CONFIG)
    _fresh_champion(storeml_url)
    insert_metric(storeml_url, "drift", "drift_share", 0.1)
    null = insert_metric(storeml_url, "drift", "served_drift_share", None)  # too few served rows
    quiet = _tick(sensor, instance, None)
    assert quiet.run_requests == [] and _triggers(storeml_url) == []
    assert f"served-input drift not compared (row {null}: too few served rows)" in (quiet.skip_message or "")
    assert SensorCursor.from_json(quiet.cursor).served_drift_metric_id == null

    high = insert_metric(storeml_url, "drift", "served_drift_share", 0.6)
    insert_metric(storeml_url, "drift", "served_drift_share", 0.9, model_name="another_family")  # not ours
    fired = _tick(sensor, instance, quiet.cursor)
    key = _data_key(storeml_url)
    assert [r.run_key for r in fired.run_requests] == [key]
    tags = fired.run_requests[0].tags
    assert tags["storeml/trigger"] == "served_drift" and tags["storeml/trigger.served_drift.metric_id"] == str(high)
    assert float(tags["storeml/trigger.served_drift.value"]) == pytest.approx(0.6)
    rows = _triggers(storeml_url)
    assert len(rows) == 1 and rows[0][0] == "trigger:served_drift" and rows[0][1] == pytest.approx(0.6)
    assert rows[0][2]["run_key"] == f"served_drift:{high}@{key}" and rows[0][2]["served_drift_metric_id"] == high
    assert _tick(sensor, instance, fired.cursor).run_requests == []

    # that run's attempt saw these orders: a newer served drift on the same data starts nothing, and says so
    latest, count = execute(storeml_url, "select max(ordered_at), count(*) from raw.orders")[0]
    insert_model_version(storeml_url, version="2", status="archived", created_at=datetime.now(UTC),
                         training_rows=1000, metadata=_basis(latest, count))
    newer = insert_metric(storeml_url, "drift", "served_drift_share", 0.7)
    unchanged = _tick(sensor, instance, None)
    assert unchanged.run_requests == [] and len(_triggers(storeml_url)) == 1
    assert (unchanged.skip_message or "").startswith(
        f"served-input drift share 0.700 (row {newer}) > 0.3, but no new data since the last training attempt v2")


def test_bootstrap_without_champion(storeml_url: str, instance: dg.DagsterInstance) -> None:
    sensor = build_retraining_sensor(FAMILY, CONFIG)
    nothing = _tick(sensor, instance, None)  # no champion, no raw orders: nothing to train on
    assert nothing.run_requests == []
    last = datetime(2026, 10, 31, 18, tzinfo=UTC)
    _orders(storeml_url, [last - timedelta(days=1), last])
    first = _tick(sensor, instance, nothing.cursor)
    assert [r.run_key for r in first.run_requests] == [_data_key(storeml_url)]
    assert first.run_requests[0].tags["storeml/trigger"] == "bootstrap"
    assert _tick(sensor, instance, first.cursor).run_requests == []
    # that run's candidate was rejected: not retried on the same orders, even with a lost cursor
    insert_model_version(storeml_url, version="1", status="archived", created_at=datetime.now(UTC),
                         metadata=_basis(last, 2))
    rejected = _tick(sensor, instance, None)
    assert rejected.run_requests == []
    assert rejected.skip_message == ("no new data since the last training attempt v1 (archived; HWM 2026-10-31 "
                                     f"18:00:00, 2 orders, code version {MODEL_CODE_VERSION})")
    _orders(storeml_url, [last + timedelta(days=1)])  # a new day of data, still no champion
    assert [r.run_key for r in _tick(sensor, instance, first.cursor).run_requests] == [_data_key(storeml_url)]


def test_new_orders_since_the_last_attempt(storeml_url: str, instance: dg.DagsterInstance) -> None:
    sensor = build_retraining_sensor(FAMILY, CONFIG)
    hwm = _fresh_champion(storeml_url)  # 1000 training rows; 1 order after its high-water mark
    # a newer attempt (rejected) saw 3 orders: new orders count from its high-water mark, not the champion's
    later = hwm + timedelta(days=5)
    insert_model_version(storeml_url, version="2", status="archived", created_at=datetime.now(UTC),
                         training_rows=1000, metadata=_basis(later, 3))
    quiet = _tick(sensor, instance, None)
    assert quiet.run_requests == [] and quiet.skip_message.startswith("no new data since the last training attempt v2")
    now = datetime.now(UTC)
    _orders(storeml_url, [now - timedelta(minutes=m) for m in range(1, 401)])  # 0.4 x: below 0.5
    below = _tick(sensor, instance, quiet.cursor)
    assert below.run_requests == []
    assert "new orders since attempt v2: 400 = 0.40 x its training rows <= 0.5" in (below.skip_message or "")
    _orders(storeml_url, [now - timedelta(minutes=m) for m in range(401, 601)])  # 600 new: 0.6 x
    fired = _tick(sensor, instance, below.cursor)
    assert [r.run_key for r in fired.run_requests] == [_data_key(storeml_url)]
    assert float(fired.run_requests[0].tags["storeml/trigger.new_data.value"]) == pytest.approx(0.6)
    assert _tick(sensor, instance, fired.cursor).run_requests == []
    row = _triggers(storeml_url)[0]
    assert row[0] == "trigger:new_data" and row[2]["new_orders"] == 600 and row[2]["training_rows"] == 1000
    assert row[2]["attempt_version"] == "2"


def test_old_champion(storeml_url: str, instance: dg.DagsterInstance) -> None:
    sensor = build_retraining_sensor(FAMILY, CONFIG)
    now = datetime.now(UTC)
    insert_model_version(storeml_url, version="3", status="production", created_at=now - timedelta(days=45),
                         training_window_end=now - timedelta(days=46), promoted_at=now - timedelta(days=44))
    fired = _tick(sensor, instance, None)
    assert [r.tags["storeml/trigger"] for r in fired.run_requests] == ["model_age"]
    assert _tick(sensor, instance, fired.cursor).run_requests == []


def test_waits_while_a_retraining_run_is_in_flight(storeml_url: str, instance: dg.DagsterInstance) -> None:
    sensor = build_retraining_sensor(FAMILY, CONFIG)
    _orders(storeml_url, [datetime(2026, 10, 31, 18, tzinfo=UTC)])  # no champion: bootstrap would fire
    running = instance.add_run(dg.DagsterRun(job_name=RETRAINING_JOB_NAME, run_id=str(uuid.uuid4()),
                                             status=dg.DagsterRunStatus.STARTED))
    waiting = _tick(sensor, instance, None)
    assert waiting.run_requests == []
    assert waiting.skip_message == (f"retraining run {running.run_id} is queued or running: waiting for its "
                                    "training attempt")
    instance.report_run_failed(running)
    assert [r.tags["storeml/trigger"] for r in _tick(sensor, instance, None).run_requests] == ["bootstrap"]


def test_default_status_follows_the_automation_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREML_AUTOMATION", "false")
    assert build_retraining_sensor(FAMILY, CONFIG).default_status == dg.DefaultSensorStatus.STOPPED
    monkeypatch.setenv("STOREML_AUTOMATION", "true")
    sensor = build_retraining_sensor(FAMILY, CONFIG)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 60  # STOREML_RETRAIN_SENSOR_INTERVAL_SECONDS unset


def test_the_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREML_RETRAIN_SENSOR_INTERVAL_SECONDS", "5")
    assert build_retraining_sensor(FAMILY, CONFIG).minimum_interval_seconds == 5
    monkeypatch.setenv("STOREML_RETRAIN_SENSOR_INTERVAL_SECONDS", "0")
    with pytest.raises(ValueError, match="STOREML_RETRAIN_SENSOR_INTERVAL_SECONDS must be at least 1, got 0"):
        build_retraining_sensor(FAMILY, CONFIG)


def test_the_thresholds_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from storeml_assets.monitoring.sensors import trigger_config_from_env
    from storeml_assets.settings import SettingsError

    assert trigger_config_from_env().drift_share_threshold == 0.3  # unset: gate data_drift's maximum
    monkeypatch.setenv("STOREML_RETRAIN_DRIFT_SHARE", "0.45")
    monkeypatch.setenv("STOREML_RETRAIN_NEW_ORDERS_SHARE", "0.2")
    monkeypatch.setenv("STOREML_RETRAIN_MAX_AGE_DAYS", "7")
    monkeypatch.setenv("STOREML_RETRAIN_BOOTSTRAP", "false")
    config = trigger_config_from_env()
    assert (config.drift_share_threshold, config.new_orders_share, config.max_model_age_days, config.bootstrap) == (
        0.45, 0.2, 7, False)
    monkeypatch.setenv("STOREML_RETRAIN_NEW_ORDERS_SHARE", "half")
    with pytest.raises(SettingsError, match="STOREML_RETRAIN_NEW_ORDERS_SHARE must be a number, got 'half'"):
        trigger_config_from_env()
