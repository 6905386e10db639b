"""Loading simulated data into real, migrated Postgres databases (tiny scale)."""

from __future__ import annotations

import polars as pl
import pytest
from psycopg2 import sql

from storeml_assets.db.locator import connection, database_url
from storeml_assets.db.migrate import migrate
from storeml_assets.settings import SOURCE_DATABASES
from storeml_assets.synthetic.loader import LoadError, load
from storeml_assets.synthetic.simulator import SimulatedData, SimulationConfig, simulate

DATABASES = (*SOURCE_DATABASES, "storeml")


@pytest.fixture
def migrated(isolated_env: dict[str, str]) -> dict[str, str]:
    migrate(databases=DATABASES)
    return isolated_env


def _counts(data: SimulatedData) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for db, tables in data.databases.items():
        with connection(database_url(db)) as conn, conn.cursor() as cur:
            for table in tables:
                cur.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(table)))
                out[(db, table)] = cur.fetchone()[0]
    with connection(database_url("storeml")) as conn, conn.cursor() as cur:
        for table in (*data.ground_truth, "simulation_runs"):
            cur.execute(sql.SQL("select count(*) from {}").format(sql.Identifier("ground_truth", table)))
            out[("storeml", table)] = cur.fetchone()[0]
    return out


def _expected(data: SimulatedData, runs: int) -> dict[tuple[str, str], int]:
    out = {(db, t): df.height for db, tables in data.databases.items() for t, df in tables.items()}
    out.update({("storeml", t): df.height for t, df in data.ground_truth.items()})
    out[("storeml", "simulation_runs")] = runs
    return out


def _schema_objects() -> dict[str, list[tuple[str, str]]]:
    """Every table, index, constraint and trigger definition per source database."""
    out = {}
    for db in SOURCE_DATABASES:
        with connection(database_url(db)) as conn, conn.cursor() as cur:
            cur.execute(
                "select indexname, indexdef from pg_indexes where schemaname = 'public'"
                " union all select conname, pg_get_constraintdef(oid) from pg_constraint"
                " where connamespace = 'public'::regnamespace"
                " union all select tgname, pg_get_triggerdef(oid) from pg_trigger where not tgisinternal"
                " union all select c.relname, c.relkind::text || coalesce(c.reloptions::text, '')"
                " || coalesce(t.reloptions::text, '') from pg_class c left join pg_class t on t.oid = c.reltoastrelid"
                " where c.relnamespace = 'public'::regnamespace"
                " order by 1, 2"
            )
            out[db] = cur.fetchall()
    return out


def _fingerprint() -> tuple:
    with connection(database_url("storefront_db")) as conn, conn.cursor() as cur:
        cur.execute("select count(*), sum(total_amount), max(ordered_at) from orders")
        orders = cur.fetchone()
        cur.execute("select count(*), sum(user_id), max(occurred_at) from user_interactions")
        orders += cur.fetchone()
    with connection(database_url("auth_db")) as conn, conn.cursor() as cur:
        cur.execute("select count(*), min(email) from users")
        users = cur.fetchone()
    return orders, users


def test_load_fills_every_table_and_a_reload_replaces(migrated: dict[str, str]) -> None:
    data = simulate(SimulationConfig(seed=11, scale="tiny", drift=True))
    seen: list[str] = []
    schema_before = _schema_objects()
    # bulk_threshold=0: every database takes the drop-and-rebuild path for indexes and foreign keys;
    # swap_threshold=0: every table nothing references goes through a staging table and is swapped in
    report = load(data, progress=lambda name, rows, seconds: seen.append(name), bulk_threshold=0,
                  swap_threshold=0, chunk_rows=1_000)
    assert _schema_objects() == schema_before
    assert {"storefront_db.user_interactions", "storefront_db.order_items", "auth_db.user_sessions",
            "cart_db.cart_items"} <= set(report.swapped)
    assert not {"storefront_db.orders", "auth_db.users", "cart_db.carts"} & set(report.swapped)
    assert _counts(data) == _expected(data, runs=1)
    assert all(n > 0 for (db, t), n in _counts(data).items() if db != "storeml" or t != "drift_spec")
    assert "storefront_db.order_items" in seen and "storeml.ground_truth.planted_bundles" in seen
    assert report.rows == sum(data.row_counts().values())
    # values round-trip: money, timestamps, arrays, json
    with connection(database_url("storefront_db")) as conn, conn.cursor() as cur:
        cur.execute("select sum(total_amount), min(ordered_at) from orders")
        total, first = cur.fetchone()
    assert float(total) == pytest.approx(float(data.table("orders")["total_amount"].cast(pl.Float64).sum()))
    assert first == data.table("orders")["ordered_at"].min()
    with connection(database_url("storeml")) as conn, conn.cursor() as cur:
        cur.execute("select product_ids from ground_truth.planted_bundles order by bundle_id limit 1")
        assert cur.fetchone()[0] == data.ground_truth["planted_bundles"]["product_ids"][0].to_list()
        cur.execute("select scale, drift, row_counts->>'storefront_db.orders' from ground_truth.simulation_runs")
        assert cur.fetchone() == ("tiny", True, str(data.table("orders").height))
    with connection(database_url("auth_db")) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from user_profiles where preferences ? 'preferred_channel'")
        assert cur.fetchone()[0] == 500

    other = simulate(SimulationConfig(seed=12, scale="tiny"))
    load(other, swap_threshold=0, parallel=3)
    assert _counts(other) == _expected(other, runs=2)
    assert _schema_objects() == schema_before
    # the swapped tables hold exactly the new rows
    with connection(database_url("storefront_db")) as conn, conn.cursor() as cur:
        cur.execute("select sum(user_id), max(occurred_at) from user_interactions")
        ui = other.table("user_interactions")
        assert cur.fetchone() == (ui["user_id"].sum(), ui["occurred_at"].max())


def test_failed_load_leaves_previous_contents(migrated: dict[str, str]) -> None:
    first = simulate(SimulationConfig(seed=21, scale="tiny"))
    load(first)
    before = _fingerprint()

    broken = simulate(SimulationConfig(seed=22, scale="tiny"))
    reviews = broken.databases["storefront_db"]["reviews"]
    broken.databases["storefront_db"]["reviews"] = reviews.with_columns(pl.lit(1).alias("no_such_column"))
    with pytest.raises(LoadError, match=r"storefront_db\.reviews.*no_such_column"):
        load(broken, bulk_threshold=0)
    assert _fingerprint() == before
    assert _counts(first) == _expected(first, runs=1)


def _staging_tables() -> list[str]:
    out = []
    for db in SOURCE_DATABASES:
        with connection(database_url(db)) as conn, conn.cursor() as cur:
            cur.execute("select relname from pg_class where relname like %s", ("%\\_\\_load%",))
            out += [f"{db}.{r[0]}" for r in cur.fetchall()]
    return out


def test_failure_in_the_parallel_phase_leaves_previous_contents(migrated: dict[str, str]) -> None:
    first = simulate(SimulationConfig(seed=31, scale="tiny"))
    load(first)
    before, schema_before = _fingerprint(), _schema_objects()
    broken = simulate(SimulationConfig(seed=32, scale="tiny"))
    ui = broken.databases["storefront_db"]["user_interactions"]
    breakages = [
        # a check constraint fails while COPYing the third chunk into the staging table
        (
            pl.when(pl.int_range(pl.len()) == 2_500).then(pl.lit("teleport")).otherwise(pl.col("interaction_type"))
            .alias("interaction_type"),
            r"storefront_db\.user_interactions: .*interaction_type_check",
        ),
        # a duplicate key fails the unique index build, after every chunk has committed
        (
            pl.when(pl.col("interaction_id") == 2).then(1).otherwise(pl.col("interaction_id")).alias("interaction_id"),
            r"storefront_db\.user_interactions \(index .*could not create unique index",
        ),
    ]
    assert ui.height > 2_500
    for breakage, message in breakages:
        broken.databases["storefront_db"]["user_interactions"] = ui.with_columns(breakage)
        with pytest.raises(LoadError, match=message):
            load(broken, swap_threshold=0, chunk_rows=1_000)
        assert _staging_tables() == []
        assert _fingerprint() == before
        assert _schema_objects() == schema_before
        assert _counts(first) == _expected(first, runs=1)
