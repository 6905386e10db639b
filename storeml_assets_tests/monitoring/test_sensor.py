"""The retraining sensor evaluated against a real Dagster instance and real mlops rows in Postgres."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from storeml_assets.monitoring.metrics import SensorCursor, TriggerConfig
from storeml_assets.monitoring.sensors import RETRAINING_JOB_NAME, build_retraining_sensor
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


def _fresh_champion(url: str) -> None:
    now = datetime.now(UTC)
    insert_model_version(url, version="1", status="production", created_at=now - timedelta(days=2),
                         training_window_end=now - timedelta(days=3), promoted_at=now - timedelta(days=1),
                         training_rows=1000)
    _orders(url, [now - timedelta(days=10), now - timedelta(days=5)])


def test_drift_fires_once_and_not_again(storeml_url: str, instance: dg.DagsterInstance) -> None:
    sensor = build_retraining_sensor(CONFIG)
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
    assert request.run_key == f"drift:{high}"
    assert request.tags["storeml/trigger"] == "drift"
    assert float(request.tags["storeml/trigger.drift.value"]) == pytest.approx(0.6)
    assert float(request.tags["storeml/trigger.drift.threshold"]) == pytest.approx(0.3)
    rows = _triggers(storeml_url)
    assert len(rows) == 1 and rows[0][0] == "trigger:drift" and rows[0][1] == pytest.approx(0.6)
    assert rows[0][2]["run_key"] == f"drift:{high}" and rows[0][2]["drift_metric_id"] == high

    again = _tick(sensor, instance, fired.cursor)  # the stored cursor: nothing new
    assert again.run_requests == []
    # a fresh context carrying the returned cursor (as after a daemon restart) stays quiet too
    restarted = _tick(build_retraining_sensor(CONFIG), instance, json.loads(json.dumps(fired.cursor)))
    assert restarted.run_requests == []
    # a restart that lost the last cursor asks for the same run key (Dagster skips it) and writes no second row
    replay = _tick(sensor, instance, before.cursor)
    assert [r.run_key for r in replay.run_requests] == [f"drift:{high}"]
    assert len(_triggers(storeml_url)) == 1

    # a newer low measurement does not fire; a newer high one fires once more, with its own key
    insert_metric(storeml_url, "drift", "drift_share", 0.2)
    assert _tick(sensor, instance, fired.cursor).run_requests == []
    higher = insert_metric(storeml_url, "drift", "drift_share", 0.8)
    second = _tick(sensor, instance, fired.cursor)
    assert [r.run_key for r in second.run_requests] == [f"drift:{higher}"]


def test_bootstrap_without_champion(storeml_url: str, instance: dg.DagsterInstance) -> None:
    sensor = build_retraining_sensor(CONFIG)
    nothing = _tick(sensor, instance, None)  # no champion, no raw orders: nothing to train on
    assert nothing.run_requests == []
    last = datetime(2026, 10, 31, 18, tzinfo=UTC)
    _orders(storeml_url, [last - timedelta(days=1), last])
    first = _tick(sensor, instance, nothing.cursor)
    assert [r.run_key for r in first.run_requests] == ["bootstrap:2026-10-31"]
    assert first.run_requests[0].tags["storeml/trigger"] == "bootstrap"
    assert _tick(sensor, instance, first.cursor).run_requests == []
    _orders(storeml_url, [last + timedelta(days=1)])  # a new day of data, still no champion
    assert [r.run_key for r in _tick(sensor, instance, first.cursor).run_requests] == ["bootstrap:2026-11-01"]


def test_new_orders_since_training(storeml_url: str, instance: dg.DagsterInstance) -> None:
    sensor = build_retraining_sensor(CONFIG)
    _fresh_champion(storeml_url)  # 1000 training rows, trained on data up to 3 days ago
    now = datetime.now(UTC)
    _orders(storeml_url, [now - timedelta(minutes=m) for m in range(1, 401)])  # 0.4 x: below 0.5
    quiet = _tick(sensor, instance, None)
    assert quiet.run_requests == []
    _orders(storeml_url, [now - timedelta(minutes=m) for m in range(401, 601)])  # 600 new: 0.6 x
    fired = _tick(sensor, instance, quiet.cursor)
    assert [r.run_key for r in fired.run_requests] == ["new_data:1:1"]
    assert float(fired.run_requests[0].tags["storeml/trigger.new_data.value"]) == pytest.approx(0.6)
    assert _tick(sensor, instance, fired.cursor).run_requests == []
    row = _triggers(storeml_url)[0]
    assert row[0] == "trigger:new_data" and row[2]["new_orders"] == 600 and row[2]["training_rows"] == 1000


def test_old_champion(storeml_url: str, instance: dg.DagsterInstance) -> None:
    sensor = build_retraining_sensor(CONFIG)
    now = datetime.now(UTC)
    insert_model_version(storeml_url, version="3", status="production", created_at=now - timedelta(days=45),
                         training_window_end=now - timedelta(days=46), promoted_at=now - timedelta(days=44))
    fired = _tick(sensor, instance, None)
    assert [r.run_key for r in fired.run_requests] == ["model_age:3:1"]
    assert _tick(sensor, instance, fired.cursor).run_requests == []


def test_default_status_follows_the_automation_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREML_AUTOMATION", "false")
    assert build_retraining_sensor(CONFIG).default_status == dg.DefaultSensorStatus.STOPPED
    monkeypatch.setenv("STOREML_AUTOMATION", "true")
    sensor = build_retraining_sensor(CONFIG)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 60
