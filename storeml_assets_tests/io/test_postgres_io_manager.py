"""PostgresIOManager against a real Postgres: types, replace, partitions, identifiers, errors, metadata."""

import datetime as dt
from decimal import Decimal
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal as assert_pl_equal

from storeml_assets.io import PostgresIOManager
from storeml_assets_tests.io.helpers import (
    KINDS,
    frame_of,
    materialize,
    query,
    sink_asset,
    source_asset,
    to_pandas,
)

UTC = dt.UTC


# ---------------------------------------------------------------------------------------------
# type round trips
# ---------------------------------------------------------------------------------------------
def polars_all_types() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "i64": pl.Series([1, 2, 9_000_000_000], dtype=pl.Int64),
            "i64_null": pl.Series([1, None, 3], dtype=pl.Int64),
            "i32": pl.Series([1, -2, 3], dtype=pl.Int32),
            "f64": [1.5, None, -2.25],
            "flag": [True, False, None],
            "txt": ["a", None, "O'Reilly; drop table x;--"],
            "day": [dt.date(2024, 1, 1), None, dt.date(1999, 12, 31)],
            "ts": [dt.datetime(2024, 1, 1, 12, 30, 0, 123456), None, dt.datetime(2000, 2, 29)],
            "tstz": pl.Series(
                [dt.datetime(2024, 1, 1, 12, tzinfo=UTC), None, dt.datetime(2000, 1, 1, tzinfo=UTC)]
            ).dt.convert_time_zone("UTC"),
            "amount": pl.Series([Decimal("1.230"), None, Decimal("-99999.999")], dtype=pl.Decimal(12, 3)),
            "ints": [[1, 2], [], None],
            "words": [["a"], None, ["b", "c'"]],
            "doc": [{"k": 1, "v": "x"}, {"k": 2, "v": None}, None],
        }
    )


def pandas_all_types() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "i64": np.array([1, 2, 9_000_000_000], dtype="int64"),
            "i64_null": pd.array([1, None, 3], dtype="Int64"),
            "f64": [1.5, np.nan, -2.25],
            "flag": [True, False, True],
            "flag_null": pd.array([True, None, False], dtype="boolean"),
            "txt": ["a", None, "O'Reilly; drop table x;--"],
            "day": [dt.date(2024, 1, 1), None, dt.date(1999, 12, 31)],
            "ts": pd.to_datetime(["2024-01-01 12:30:00.123456", None, "2000-02-29 00:00:00.000000"]),
            "tstz": pd.to_datetime(["2024-01-01 12:00", None, "2000-01-01 00:00"], utc=True),
            "amount": [Decimal("1.230"), None, Decimal("-99.999")],
            "ints": [[1, 2], [], None],
            "doc": [{"k": 1, "v": [1, 2]}, {"k": 2}, None],
        }
    )


EXPECTED_PG_TYPES = {
    "i64": "bigint",
    "i64_null": "bigint",
    "i32": "integer",
    "f64": "double precision",
    "flag": "boolean",
    "flag_null": "boolean",
    "txt": "text",
    "day": "date",
    "ts": "timestamp without time zone",
    "tstz": "timestamp with time zone",
    "amount": "numeric",
    "ints": "bigint[]",
    "words": "text[]",
    "doc": "json",
}


def _column_types(url: str, schema: str, table: str) -> dict[str, str]:
    rows = query(
        url,
        "select attname, format_type(atttypid, atttypmod) from pg_attribute "
        "where attrelid = (quote_ident(%s) || '.' || quote_ident(%s))::regclass and attnum > 0 and not attisdropped",
        (schema, table),
    )
    return {name: typ.split("(")[0] for name, typ in rows}


@pytest.mark.parametrize("kind", KINDS)
def test_every_type_round_trips(fresh_db: str, kind: str) -> None:
    frame = polars_all_types() if kind == "polars" else pandas_all_types()
    captured: dict[str, Any] = {}
    src = source_asset(["rt", "all_types"], kind, lambda _: frame)
    sink = sink_asset(["rt", "all_types"], kind, captured)
    materialize([src, sink], fresh_db)

    types = _column_types(fresh_db, "rt", "all_types")
    assert types == {c: EXPECTED_PG_TYPES[c] for c in frame.columns}
    loaded = captured["value"]
    if kind == "polars":
        assert_pl_equal(loaded, frame)
    else:
        pd.testing.assert_frame_equal(loaded, frame)
        assert loaded["i64_null"].dtype == "Int64" and loaded["i64_null"].isna().tolist() == [
            False,
            True,
            False,
        ]
        assert loaded["amount"][0] == Decimal("1.230") and isinstance(loaded["amount"][0], Decimal)
        assert loaded["doc"][0] == {"k": 1, "v": [1, 2]}
        assert str(loaded["tstz"].dtype) == "datetime64[ns, UTC]"


@pytest.mark.parametrize("kind", KINDS)
def test_non_utc_timestamps_are_stored_as_the_same_instant(fresh_db: str, kind: str) -> None:
    paris = [dt.datetime(2024, 6, 1, 12, 0)]
    if kind == "polars":
        frame = pl.DataFrame({"at": paris}).with_columns(pl.col("at").dt.replace_time_zone("Europe/Paris"))
    else:
        frame = pd.DataFrame({"at": pd.to_datetime(paris).tz_localize("Europe/Paris")})
    materialize([source_asset(["rt", "paris"], kind, lambda _: frame)], fresh_db)
    assert query(fresh_db, 'select "at" from rt.paris') == [(dt.datetime(2024, 6, 1, 10, 0, tzinfo=UTC),)]


# ---------------------------------------------------------------------------------------------
# unpartitioned replace, metadata, empty frames, column selection
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_second_materialization_replaces_the_first(fresh_db: str, kind: str) -> None:
    content = {"rows": frame_of(kind, {"id": [1, 2, 3], "name": ["a", "b", "c"]})}
    src = source_asset(["warehouse", "customers"], kind, lambda _: content["rows"])
    first = materialize([src], fresh_db)
    assert query(fresh_db, "select count(*) from warehouse.customers") == [(3,)]

    content["rows"] = frame_of(kind, {"id": [10, 20], "name": ["x", "y"], "extra": [1.0, 2.0]})
    materialize([src], fresh_db)
    assert query(fresh_db, "select id, name, extra from warehouse.customers order by id") == [
        (10, "x", 1.0),
        (20, "y", 2.0),
    ]
    # no staging tables left behind
    assert query(fresh_db, "select count(*) from pg_tables where tablename like '\\_storeml%%'") == [(0,)]

    mat = first.asset_materializations_for_node(src.op.name)[0]
    meta = mat.metadata
    assert meta["dagster/row_count"].value == 3
    assert meta["dagster/table_name"].value == "warehouse.customers"
    assert meta["dagster/relation_identifier"].value.endswith(".warehouse.customers")
    schema = meta["dagster/column_schema"].schema
    assert [(c.name, c.type) for c in schema.columns] == [("id", "bigint"), ("name", "text")]
    preview = meta["preview"].value
    assert "| id | name |" in preview and "| 3 | c |" in preview


def test_single_component_key_goes_to_public(fresh_db: str) -> None:
    @dg.asset
    def lonely() -> pd.DataFrame:
        return pd.DataFrame({"x": [1]})

    materialize([lonely], fresh_db)
    assert query(fresh_db, "select x from public.lonely") == [(1,)]


@pytest.mark.parametrize("kind", KINDS)
def test_empty_frame_writes_empty_table_with_columns(fresh_db: str, kind: str) -> None:
    if kind == "polars":
        frame: Any = pl.DataFrame(
            schema={"id": pl.Int64, "name": pl.String, "at": pl.Datetime("us"), "ok": pl.Boolean}
        )
    else:
        frame = pd.DataFrame(
            {
                "id": pd.Series([], dtype="int64"),
                "name": pd.Series([], dtype="string"),
                "at": pd.Series([], dtype="datetime64[ns]"),
                "ok": pd.Series([], dtype="bool"),
            }
        )
    captured: dict[str, Any] = {}
    materialize(
        [source_asset(["rt", "empty"], kind, lambda _: frame), sink_asset(["rt", "empty"], kind, captured)],
        fresh_db,
    )
    assert query(fresh_db, "select count(*) from rt.empty") == [(0,)]
    assert _column_types(fresh_db, "rt", "empty") == {
        "id": "bigint",
        "name": "text",
        "at": "timestamp without time zone",
        "ok": "boolean",
    }
    loaded = captured["value"]
    assert list(loaded.columns) == ["id", "name", "at", "ok"] and len(loaded) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_column_selection(fresh_db: str, kind: str) -> None:
    frame = frame_of(kind, {"a": [1, 2], "b": ["x", "y"], "c": [0.5, 1.5]})
    captured: dict[str, Any] = {}
    src = source_asset(["rt", "wide"], kind, lambda _: frame)
    sink = sink_asset(["rt", "wide"], kind, captured, columns=["c", "a"])
    materialize([src, sink], fresh_db)
    loaded = to_pandas(captured["value"])
    assert list(loaded.columns) == ["c", "a"]
    assert loaded.sort_values("a")["c"].tolist() == [0.5, 1.5]

    bad = sink_asset(["rt", "wide"], kind, {}, name="bad_sink", columns=["nope"])
    with pytest.raises(Exception, match="column 'nope' is not in table rt.wide"):
        materialize([src, bad], fresh_db, selection=[bad.key])


def test_large_write_logs_progress(fresh_db: str) -> None:
    src = source_asset(["rt", "big"], "polars", lambda _: pl.DataFrame({"i": range(50_000)}))
    instance = dg.DagsterInstance.ephemeral()
    result = materialize([src], fresh_db, instance=instance)
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any("wrote 50,000 rows to rt.big (swap)" in m and "rows/s" in m for m in messages)


# ---------------------------------------------------------------------------------------------
# partitions
# ---------------------------------------------------------------------------------------------
DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-10")
REGIONS = dg.StaticPartitionsDefinition(["eu", "us", "it's; drop"])
MULTI = dg.MultiPartitionsDefinition({"date": DAILY, "region": dg.StaticPartitionsDefinition(["eu", "us"])})


def _daily_rows(kind: str, day: str, n: int = 3, value: int = 0) -> Any:
    start = dt.datetime.fromisoformat(day)
    data = {"at": [start + dt.timedelta(hours=h) for h in range(n)], "v": [value + h for h in range(n)]}
    return frame_of(kind, data)


@pytest.mark.parametrize("kind", KINDS)
def test_daily_partitions_rewrite_and_range_read(fresh_db: str, kind: str) -> None:
    state = {"value": 0}
    src = source_asset(
        ["sales", "events"],
        kind,
        lambda ctx: _daily_rows(kind, ctx.partition_key, value=state["value"]),
        partitions_def=DAILY,
        metadata={"partition_expr": "at"},
    )
    for day in ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]:
        materialize([src], fresh_db, partition_key=day)
    state["value"] = 100
    result = materialize([src], fresh_db, partition_key="2024-01-02")  # again: replaces, no duplicates
    assert query(fresh_db, "select count(*) from sales.events") == [(12,)]
    assert query(fresh_db, "select min(v), count(*) from sales.events where at::date = '2024-01-02'") == [
        (100, 3)
    ]
    assert query(fresh_db, "select max(v) from sales.events where at::date <> '2024-01-02'") == [(2,)]
    meta = result.asset_materializations_for_node(src.op.name)[0].metadata
    assert meta["dagster/row_count"].value == 3 and meta["dagster/partition_row_count"].value == 3

    # a downstream (unpartitioned) reading a partition range reads only those rows
    captured: dict[str, Any] = {}

    @dg.asset(
        ins={
            "upstream": dg.AssetIn(
                key=["sales", "events"],
                partition_mapping=dg.AllPartitionMapping(),
            )
        }
    )
    def all_events(upstream: pd.DataFrame) -> None:
        captured["all"] = upstream

    materialize([src, all_events], fresh_db, selection=[all_events.key])
    assert len(captured["all"]) == 12

    ranged = sink_asset(
        ["sales", "events"],
        kind,
        captured,
        name="two_days",
        partitions_def=DAILY,
        partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=0),
    )
    materialize([src, ranged], fresh_db, partition_key="2024-01-03", selection=[ranged.key])
    days = sorted({ts.date().isoformat() for ts in to_pandas(captured["value"])["at"]})
    assert days == ["2024-01-02", "2024-01-03"]
    assert len(captured["value"]) == 6


@pytest.mark.parametrize("kind", KINDS)
def test_static_partitions_with_hostile_key(fresh_db: str, kind: str) -> None:
    state = {"n": 2}
    src = source_asset(
        ["sales", "by_region"],
        kind,
        lambda ctx: frame_of(
            kind, {"region": [ctx.partition_key] * state["n"], "qty": list(range(state["n"]))}
        ),
        partitions_def=REGIONS,
        metadata={"partition_expr": "region"},
    )
    for key in REGIONS.get_partition_keys():
        materialize([src], fresh_db, partition_key=key)
    state["n"] = 5
    materialize([src], fresh_db, partition_key="it's; drop")
    materialize([src], fresh_db, partition_key="it's; drop")
    rows = dict(query(fresh_db, "select region, count(*) from sales.by_region group by region"))
    assert rows == {"eu": 2, "us": 2, "it's; drop": 5}

    captured: dict[str, Any] = {}
    sink = sink_asset(["sales", "by_region"], kind, captured, partitions_def=REGIONS)
    materialize([src, sink], fresh_db, partition_key="it's; drop", selection=[sink.key])
    assert set(to_pandas(captured["value"])["region"]) == {"it's; drop"} and len(captured["value"]) == 5


@pytest.mark.parametrize("kind", KINDS)
def test_multi_partitions(fresh_db: str, kind: str) -> None:
    state = {"qty": 1}

    def rows(ctx: dg.AssetExecutionContext) -> Any:
        keys = ctx.partition_key.keys_by_dimension
        day = dt.datetime.fromisoformat(keys["date"]).date()
        return frame_of(kind, {"day": [day, day], "region": [keys["region"]] * 2, "qty": [state["qty"]] * 2})

    src = source_asset(
        ["sales", "multi"],
        kind,
        rows,
        partitions_def=MULTI,
        metadata={"partition_expr": {"date": "day", "region": "region"}},
    )
    for day in ["2024-01-01", "2024-01-02"]:
        for region in ["eu", "us"]:
            materialize([src], fresh_db, partition_key=dg.MultiPartitionKey({"date": day, "region": region}))
    state["qty"] = 7
    materialize([src], fresh_db, partition_key=dg.MultiPartitionKey({"date": "2024-01-02", "region": "eu"}))
    assert query(fresh_db, "select count(*), sum(qty) from sales.multi") == [(8, 6 * 1 + 2 * 7)]
    assert query(fresh_db, "select qty from sales.multi where day = '2024-01-02' and region = 'eu'") == [
        (7,),
        (7,),
    ]

    captured: dict[str, Any] = {}
    sink = sink_asset(["sales", "multi"], kind, captured, partitions_def=MULTI)
    materialize(
        [src, sink],
        fresh_db,
        partition_key=dg.MultiPartitionKey({"date": "2024-01-01", "region": "us"}),
        selection=[sink.key],
    )
    loaded = to_pandas(captured["value"])
    assert len(loaded) == 2 and set(loaded["region"]) == {"us"} and set(loaded["qty"]) == {1}


def test_partitioned_asset_without_partition_expr_fails_clearly(fresh_db: str) -> None:
    src = source_asset(
        ["sales", "nopx"], "pandas", lambda ctx: pd.DataFrame({"x": [1]}), partitions_def=REGIONS
    )
    with pytest.raises(Exception, match="sales/nopx is partitioned but has no 'partition_expr'"):
        materialize([src], fresh_db, partition_key="eu")


# ---------------------------------------------------------------------------------------------
# hostile identifiers and conflicting columns
# ---------------------------------------------------------------------------------------------
HOSTILE_TABLE = "Robert'); drop table students;--"
HOSTILE_SCHEMA = 'Select "Weird" Schema'


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_identifiers_round_trip_and_execute_nothing(fresh_db: str, kind: str) -> None:
    query(fresh_db, "create table public.students (id int)")
    frame = frame_of(kind, {"Order": [1, 2], "user name; --": ["a", "b"], "select": [True, False]})
    captured: dict[str, Any] = {}
    src = source_asset([HOSTILE_SCHEMA, HOSTILE_TABLE], kind, lambda _: frame, op_name="hostile_src")
    sink = sink_asset([HOSTILE_SCHEMA, HOSTILE_TABLE], kind, captured, columns=["user name; --", "Order"])
    materialize([src, sink], fresh_db)
    materialize([src, sink], fresh_db)  # the replace path too
    assert query(fresh_db, "select count(*) from pg_tables where tablename = 'students'") == [(1,)]
    assert query(
        fresh_db,
        "select count(*) from pg_tables where schemaname = %s and tablename = %s",
        (HOSTILE_SCHEMA, HOSTILE_TABLE),
    ) == [(1,)]
    loaded = to_pandas(captured["value"])
    assert list(loaded.columns) == ["user name; --", "Order"]
    assert sorted(loaded["Order"].tolist()) == [1, 2]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("second", "message"),
    [
        ({"region": ["us"], "qty": [1], "extra": [1]}, "column 'extra' is not in table sales.conflict"),
        ({"region": ["us"]}, "column 'qty' of table sales.conflict is missing from the frame"),
        (
            {"region": ["us"], "qty": ["many"]},
            "column 'qty' of table sales.conflict is bigint but the frame has",
        ),
    ],
)
def test_conflicting_columns_raise_and_leave_data(
    fresh_db: str, kind: str, second: dict[str, list[Any]], message: str
) -> None:
    state: dict[str, Any] = {"data": {"region": ["eu", "eu"], "qty": [1, 2]}}
    src = source_asset(
        ["sales", "conflict"],
        kind,
        lambda ctx: frame_of(kind, state["data"]),
        partitions_def=dg.StaticPartitionsDefinition(["eu", "us"]),
        metadata={"partition_expr": "region"},
    )
    materialize([src], fresh_db, partition_key="eu")
    state["data"] = second
    with pytest.raises(Exception, match=message):
        materialize([src], fresh_db, partition_key="us")
    assert query(fresh_db, "select region, qty from sales.conflict order by qty") == [("eu", 1), ("eu", 2)]


def test_failed_replace_keeps_old_table_and_leaves_no_staging(fresh_db: str) -> None:
    state: dict[str, Any] = {"frame": pd.DataFrame({"x": [1, 2]})}
    src = source_asset(["rt", "keep"], "pandas", lambda _: state["frame"])
    materialize([src], fresh_db)
    state["frame"] = pd.DataFrame({"x": [object()]})  # cannot be converted
    with pytest.raises(Exception):  # noqa: B017 - any failure; the point is what stays behind
        materialize([src], fresh_db)
    assert query(fresh_db, "select x from rt.keep order by x") == [(1,), (2,)]
    assert query(fresh_db, "select count(*) from pg_tables where tablename like '\\_storeml%%'") == [(0,)]


def test_table_with_constraints_is_refilled_in_place(fresh_db: str) -> None:
    query(fresh_db, "create schema warehouse")
    query(
        fresh_db,
        "create table warehouse.products (sku text primary key, price numeric(10,2), note jsonb, created_at timestamptz default now())",
    )
    query(fresh_db, "create view warehouse.v_products as select sku from warehouse.products")
    state = {
        "frame": pd.DataFrame(
            {"sku": ["a", "b"], "price": [Decimal("1.50"), Decimal("2.25")], "note": [{"x": 1}, None]}
        )
    }
    src = source_asset(["warehouse", "products"], "pandas", lambda _: state["frame"])
    materialize([src], fresh_db)
    state["frame"] = pd.DataFrame({"sku": ["c"], "price": [Decimal("3.00")], "note": [{"y": [1]}]})
    materialize([src], fresh_db)
    assert query(
        fresh_db, "select sku, price, note from warehouse.v_products join warehouse.products using (sku)"
    ) == [("c", Decimal("3.00"), {"y": [1]})]
    assert query(fresh_db, "select count(*) from pg_indexes where tablename = 'products'") == [(1,)]


def test_lazyframe_output_and_input_and_pandas_arrow_strings(fresh_db: str) -> None:
    captured: dict[str, Any] = {}

    @dg.asset(key=["rt", "lazy"])
    def lazy_src() -> pl.LazyFrame:
        return pl.LazyFrame({"k": ["a", None, "c"], "v": [1, 2, 3]}).filter(pl.col("v") > 1)

    @dg.asset(ins={"up": dg.AssetIn(key=["rt", "lazy"])})
    def lazy_sink(up: pl.LazyFrame) -> None:
        captured["lazy"] = up

    @dg.asset(ins={"up": dg.AssetIn(key=["rt", "lazy"])})
    def arrow_sink(up: pd.DataFrame) -> None:
        captured["pandas"] = up

    dg.materialize([lazy_src, lazy_sink], resources={"io_manager": PostgresIOManager(url=fresh_db)})
    assert isinstance(captured["lazy"], pl.LazyFrame)
    assert captured["lazy"].collect().to_dicts() == [{"k": None, "v": 2}, {"k": "c", "v": 3}]
    dg.materialize(
        [lazy_src, arrow_sink],
        resources={"io_manager": PostgresIOManager(url=fresh_db, pandas_arrow_strings=True)},
        selection=[arrow_sink.key],
    )
    frame = captured["pandas"]
    assert str(frame["k"].dtype) == "string" and frame["k"].tolist() == [pd.NA, "c"]


@pytest.mark.parametrize("kind", KINDS)
def test_rows_outside_the_partition_are_rejected(fresh_db: str, kind: str) -> None:
    state = {"shift": 0}
    src = source_asset(
        ["sales", "stray"],
        kind,
        lambda ctx: _daily_rows(
            kind, ctx.partition_key, n=30 + state["shift"]
        ),  # 30 hours spill into the next day
        partitions_def=DAILY,
        metadata={"partition_expr": "at"},
    )
    with pytest.raises(
        Exception, match="6 of 30 rows have 'at' outside the partition being written to table sales.stray"
    ):
        materialize([src], fresh_db, partition_key="2024-01-01")
    assert query(fresh_db, "select count(*) from pg_tables where tablename = 'stray'") == [(0,)]
    state["shift"] = -6
    materialize([src], fresh_db, partition_key="2024-01-01")
    assert query(fresh_db, "select count(*) from sales.stray") == [(24,)]
