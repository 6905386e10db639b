"""Source rows no daily partition can hold are counted (metadata and a warning check), never dropped silently;
an events run cut at a day replaces its whole range but reads only the events before that day."""

from __future__ import annotations

import dagster as dg
import psycopg2
import pytest

from storeml_assets.db.migrate import migrate
from storeml_assets.io.postgres_io_manager import PostgresIOManager
from storeml_assets.partitions import EVENTS_BEFORE_TAG
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.settings import Settings
from storeml_assets.sources.assets import build_source_assets
from storeml_assets.sources.checks import IN_PARTITION_RANGE_CHECK, build_source_checks
from storeml_assets.sources.resources import StorefrontSources
from storeml_assets.synthetic.loader import load
from storeml_assets.synthetic.simulator import SimulationConfig, simulate

ORDERS = dg.AssetKey(["raw", "orders"])
RANGE = {"dagster/asset_partition_range_start": "2026-05-10", "dagster/asset_partition_range_end": "2026-10-31"}


def _rows(url: str, query: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query, params)
            return list(cur.fetchall()) if cur.description else []
    finally:
        conn.close()


@pytest.fixture
def loaded(isolated_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("STOREML_MIN_ROWS", "orders=1")
    settings = Settings.from_env()
    migrate(settings)
    load(simulate(SimulationConfig(scale="tiny", seed=5)), settings)
    return isolated_env


def _job(urls: dict[str, str]) -> dg.JobDefinition:
    defs = dg.Definitions(
        assets=build_source_assets(),
        asset_checks=build_source_checks(),
        resources={
            "io_manager": PostgresIOManager(url=urls["storeml"]),
            "storeml_db": PostgresResource(url=urls["storeml"]),
            "sources": StorefrontSources(),
        },
    )
    return defs.resolve_implicit_global_asset_job_def()


def _add_order(url: str, order_id: int, ordered_at: str) -> None:
    """A copy of the first order under a new id, dated ``ordered_at``."""
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("create temporary table new_order as select * from orders order by order_id limit 1")
            cur.execute("update new_order set order_id = %s, ordered_at = %s", (order_id, ordered_at))
            cur.execute("insert into orders select * from new_order")
    finally:
        conn.close()


def test_rows_outside_the_partitions_are_counted_and_warned_about(loaded: dict[str, str]) -> None:
    store = loaded["storefront_db"]
    _add_order(store, 29990101, "2999-01-01 12:00:00+00")
    _add_order(store, 19000101, "1900-01-01 12:00:00+00")
    result = _job(loaded).execute_in_process(
        asset_selection=[ORDERS], tags={"dagster/asset_partition_range_start": "2026-01-01",
                                        "dagster/asset_partition_range_end": "2026-11-01"}
    )
    assert result.success
    # one materialization per partition of the range, each with the same figures
    materializations = result.asset_materializations_for_node("extract_event_tables")
    assert {m.metadata["rows_outside_partitions"].value for m in materializations} == {2}
    meta = materializations[0].metadata
    assert meta["rows_outside_partitions"].value == 2
    assert meta["rows_before_first_partition"].value == 1
    assert meta["rows_after_last_partition"].value == 1
    assert sorted(meta["rows_outside_partitions_sample"].value) == ["19000101", "29990101"]
    source = _rows(store, "select count(*) from orders")[0][0]
    assert _rows(loaded["storeml"], "select count(*) from raw.orders")[0][0] == source - 2

    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == IN_PARTITION_RANGE_CHECK]
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["rows_outside_partitions"].value == 2
    assert sorted(evaluation.metadata["sample"].value) == ["19000101", "29990101"]
    # a warning: the blocking checks pass and the run goes on
    blocking = {e.check_name: e.passed for e in result.get_asset_check_evaluations() if e.blocking}
    assert blocking == {"min_rows": True, "primary_key_unique_not_null": True}


def test_clean_sources_pass_the_range_check(loaded: dict[str, str]) -> None:
    result = _job(loaded).execute_in_process(asset_selection=[ORDERS], tags=RANGE)
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == IN_PARTITION_RANGE_CHECK]
    assert evaluation.passed
    assert evaluation.metadata["rows_outside_partitions"].value == 0


def test_an_events_run_cut_at_a_day_replaces_its_range_but_reads_only_before_it(loaded: dict[str, str]) -> None:
    job, store, storeml = _job(loaded), loaded["storefront_db"], loaded["storeml"]
    assert job.execute_in_process(asset_selection=[ORDERS], tags=RANGE).success
    later = "select count(*) from raw.orders where ordered_at >= '2026-10-01'"
    assert _rows(storeml, later)[0][0] > 0

    assert job.execute_in_process(asset_selection=[ORDERS], tags={**RANGE, EVENTS_BEFORE_TAG: "2026-10-01"}).success
    assert _rows(storeml, later) == [(0,)]
    expected = _rows(
        store, "select count(*) from orders where ordered_at >= '2026-05-10' and ordered_at < '2026-10-01'"
    )[0][0]
    assert _rows(storeml, "select count(*) from raw.orders")[0][0] == expected


def test_a_bad_cut_day_names_the_tag(loaded: dict[str, str]) -> None:
    result = _job(loaded).execute_in_process(
        asset_selection=[ORDERS], tags={**RANGE, EVENTS_BEFORE_TAG: "soon"}, raise_on_error=False
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "run tag storeml/events_before='soon' is not a date" in str(failure.event_specific_data)
