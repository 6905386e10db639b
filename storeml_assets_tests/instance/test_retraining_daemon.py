"""The retraining sensor under a real daemon: an idle platform never retrains.

`storeml dev` (webserver + daemon, the sensor ticking every few seconds) runs on fresh databases
holding a tiny storefront's raw tables and a champion trained on all of them. Automation is off, so
the purchase-propensity sensor is started through GraphQL as a user would in the UI (the other
families' sensors stay stopped: they would each train a first champion, which is not this test's
subject). Then:

1. many sensor ticks -> zero retraining runs, each tick skipping with "no new data since the last
   training attempt";
2. the daemon is restarted: the same;
3. one more day of orders, over the (lowered) new-data threshold -> exactly one run, which trains
   on the new data; after it, the ticks are quiet again and there is still exactly one run.

Waits are bounded by tick counts and run states, not by elapsed time.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import mlflow
import pytest
from psycopg2 import sql

from storeml_assets.features.assets import FEATURE_ASSETS
from storeml_assets.features.customer import RAW_COLUMNS
from storeml_assets.io import PostgresIOManager
from storeml_assets.io.postgres_io_manager import store_frame
from storeml_assets.keys import PURCHASE_PROPENSITY as MODEL_NAME
from storeml_assets.keys import RETRAINING_SENSOR_NAME
from storeml_assets.ml.mlflow_resource import MlflowTracking
from storeml_assets.models.candidate import build_candidate_asset
from storeml_assets.models.purchase_propensity import FAMILY
from storeml_assets.promotion.decision import build_promotion_asset
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.settings import DATABASE_URL_ENV
from storeml_assets_tests.conftest import drop_database
from storeml_assets_tests.features.frames import raw_frames, simulated
from storeml_assets_tests.monitoring.helpers import execute
from storeml_assets_tests.ui.server import (
    LOCATION_NAME,
    DevServer,
    free_port,
    isolated_environment,
    running_webserver,
    wait_for_run,
)

pytestmark = pytest.mark.slow

#: One tiny day of orders is a few dozen against ~1,000 training rows: a share this low makes it a trigger.
NEW_ORDERS_SHARE = "0.001"
QUIET_TICKS = 4
SENSOR_TAG = "dagster/sensor_name"

TICKS = """
query Ticks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status ticks(limit: 200) { tickId status skipReason runIds timestamp } } }
    ... on PythonError { message }
  }
}
"""

RUNS = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    ... on Runs { results { runId status tags { key value } } }
  }
}
"""


START_SENSOR = """
mutation Start($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}
"""


def _selector() -> dict[str, str]:
    return {"repositoryLocationName": LOCATION_NAME, "repositoryName": "__repository__",
            "sensorName": RETRAINING_SENSOR_NAME}


def _start_sensor(server: DevServer) -> None:
    started = server.graphql(START_SENSOR, {"selector": _selector()})["startSensor"]
    if started["__typename"] != "Sensor" or started["sensorState"]["status"] != "RUNNING":
        raise RuntimeError(f"could not start {RETRAINING_SENSOR_NAME}: {started}")


def _ticks(server: DevServer) -> list[dict[str, Any]]:
    data = server.graphql(TICKS, {"selector": _selector()})["sensorOrError"]
    if data["__typename"] != "Sensor":
        raise RuntimeError(f"sensor {RETRAINING_SENSOR_NAME} not found: {data}")
    return data["sensorState"]["ticks"]


def _sensor_runs(server: DevServer) -> list[dict[str, Any]]:
    results = server.graphql(RUNS, {"filter": {"tags": [{"key": SENSOR_TAG, "value": RETRAINING_SENSOR_NAME}]}})
    return [{**run, "tags": {t["key"]: t["value"] for t in run["tags"]}} for run in results["runsOrError"]["results"]]


def _wait(server: DevServer, what: str, done: Callable[[], bool], timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(2.0)
    raise TimeoutError(f"{what}: not within {timeout:.0f}s\n{server.log_tail()}")


def _wait_for_ticks(server: DevServer, after: set[int], count: int, since: float = 0.0) -> list[dict[str, Any]]:
    """``count`` completed ticks newer than the ids in ``after`` and evaluated after ``since`` (epoch seconds).

    ``since`` matters after a run ends: a tick the daemon began while the run was still in flight can be
    listed only after the run's end is seen, and it rightly says the run is in flight.
    """

    def completed() -> list[dict[str, Any]]:
        return [t for t in _ticks(server) if int(t["tickId"]) not in after and t["status"] != "STARTED"
                and float(t["timestamp"]) > since]

    _wait(server, f"{count} retraining sensor ticks", lambda: len(completed()) >= count)
    return completed()


def _add_a_day_of_orders(url: str) -> int:
    """Copy the last day's orders one day later, with new ids; returns how many."""
    columns = [r[0] for r in execute(
        url, "select column_name from information_schema.columns where table_schema = 'raw' "
             "and table_name = 'orders' order by ordinal_position")]
    values = [
        sql.SQL("o.order_id + m.top") if c == "order_id"
        else sql.SQL("o.ordered_at + interval '1 day'") if c == "ordered_at"
        else sql.SQL("o.{}").format(sql.Identifier(c))
        for c in columns
    ]
    query = sql.SQL(
        "insert into raw.orders ({cols}) select {vals} from raw.orders o, "
        "(select max(order_id) as top, max(ordered_at) as newest from raw.orders) m "
        "where o.ordered_at > m.newest - interval '1 day' returning 1"
    ).format(cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns), vals=sql.SQL(", ").join(values))
    return len(execute(url, query))


@pytest.fixture
def platform(pg_server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Fresh databases with a tiny storefront's raw tables and a trained champion; dropped afterwards."""
    env, names = isolated_environment(
        pg_server_url, tmp_path / "home",
        STOREML_AUTOMATION="false",
        STOREML_RETRAIN_SENSOR_INTERVAL_SECONDS="5",
        STOREML_RETRAIN_NEW_ORDERS_SHARE=NEW_ORDERS_SHARE,
    )
    for key, value in env.items():
        if key.startswith("STOREML_"):
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("STOREML_PG_URL", raising=False)
    try:
        from storeml_assets.db.migrate import migrate

        migrate()
        url = env[DATABASE_URL_ENV["storeml"]]
        frames = raw_frames(simulated("tiny", 7, False))
        for table in RAW_COLUMNS:
            store_frame(url, "raw", table, frames[table])
        tracking = MlflowTracking(tracking_uri=env[DATABASE_URL_ENV["mlflow"]])
        result = dg.materialize(
            [*FEATURE_ASSETS, build_candidate_asset(FAMILY), build_promotion_asset(FAMILY)], instance=dg.DagsterInstance.ephemeral(),
            resources={"io_manager": PostgresIOManager(database="storeml"),
                       "storeml_db": PostgresResource(database="storeml"), "mlflow": tracking},
            run_config=dg.RunConfig({"promotion__promotion_decision": {"config": {"drift_share_max": 0.6}}}),
        )
        assert result.success
        assert tracking.champion_version(MODEL_NAME) == "1"
        yield env
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(None)
        for name in names:
            drop_database(pg_server_url, name)


def _dev(env: dict[str, str], log: Path) -> Any:
    host, port = "127.0.0.1", free_port()
    storeml = str(Path(sys.executable).with_name("storeml"))
    args = [storeml, "dev", "--host", host, "--port", str(port), "--verbose"]
    return running_webserver(args, env, log, LOCATION_NAME, host, port)


def test_an_idle_platform_never_retrains_and_new_data_retrains_once(platform: dict[str, str], tmp_path: Path) -> None:
    url = platform[DATABASE_URL_ENV["storeml"]]
    seen: set[int] = set()
    with _dev(platform, tmp_path / "dev-1.log") as server:
        _start_sensor(server)  # a started sensor stays started across restarts (the instance keeps its state)
        ticks = _wait_for_ticks(server, seen, QUIET_TICKS)
        assert _sensor_runs(server) == []
        assert all(t["status"] == "SKIPPED" for t in ticks), ticks
        assert all(t["skipReason"].startswith("no new data since the last training attempt v1 (production; HWM ")
                   for t in ticks), ticks
        seen |= {int(t["tickId"]) for t in _ticks(server)}

    with _dev(platform, tmp_path / "dev-2.log") as server:  # a restart changes nothing
        ticks = _wait_for_ticks(server, seen, QUIET_TICKS // 2)
        assert _sensor_runs(server) == []
        assert {t["status"] for t in ticks} == {"SKIPPED"}
        seen |= {int(t["tickId"]) for t in _ticks(server)}

        added = _add_a_day_of_orders(url)
        assert added > 0
        _wait(server, "a retraining run", lambda: len(_sensor_runs(server)) > 0)
        (run,) = _sensor_runs(server)
        assert run["tags"]["storeml/trigger"] == "new_data"
        assert wait_for_run(server.client(), run["runId"], timeout=600) == "SUCCESS", server.log_tail()
        run_ended = time.time()
        seen |= {int(t["tickId"]) for t in _ticks(server)}

        ticks = _wait_for_ticks(server, seen, QUIET_TICKS // 2, since=run_ended)
        assert [r["runId"] for r in _sensor_runs(server)] == [run["runId"]]
        assert all(t["skipReason"].startswith("no new data since the last training attempt v2") for t in ticks), ticks
    attempts = execute(url, "select model_version, (metadata ->> 'orders_seen')::int, metadata ->> 'trigger_config' "
                             "from mlops.model_versions where model_name = 'purchase_propensity' order by id")
    orders = execute(url, "select count(*) from raw.orders")[0][0]
    assert [a[:2] for a in attempts] == [("1", orders - added), ("2", orders)]
    assert attempts[0][2] is None and attempts[1][2] is not None  # the sensor's thresholds, on its attempt
