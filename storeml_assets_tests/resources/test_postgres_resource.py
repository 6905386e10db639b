"""PostgresResource against a real Postgres: read-only mode, retries, health check, redaction."""

import socket
import time
from typing import Any

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from storeml_assets.db.locator import DatabaseUnreachableError
from storeml_assets.db.urls import database_of
from storeml_assets.resources import PostgresResource, ReadOnlyDatabaseError


def _unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_read_only_rejects_writes_but_reads(fresh_db: str) -> None:
    writer = PostgresResource(url=fresh_db)
    with writer.connect() as conn:
        conn.execute(sa.text("create table t (i int)"))
        conn.execute(sa.text("insert into t values (1), (2)"))
    reader = PostgresResource(url=fresh_db, read_only=True)
    assert reader.read_sql("select sum(i) as total from t")["total"].tolist() == [3]
    with (
        pytest.raises(ReadOnlyDatabaseError, match="opened read-only .*read-only transaction"),
        reader.connect() as conn,
    ):
        conn.execute(sa.text("insert into t values (3)"))
    assert writer.read_sql("select count(*) as n from t")["n"].tolist() == [2]
    assert reader.health_check()["read_only"] is True


def test_unreachable_server_retries_then_fails_naming_host_without_password() -> None:
    port = _unused_port()
    resource = PostgresResource(
        url=f"postgresql://storeml:s3cret-pw@127.0.0.1:{port}/storeml",
        connect_retries=2,
        retry_backoff_seconds=0.1,
    )
    started = time.monotonic()
    with pytest.raises(DatabaseUnreachableError) as info:
        resource.health_check()
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "after 3 attempts" in message
    assert "s3cret-pw" not in message and "\n" not in message
    assert elapsed >= 0.3  # backoff 0.1 then 0.2
    assert "s3cret-pw" not in resource.url_for_display()


def test_sql_errors_are_not_retried(fresh_db: str) -> None:
    resource = PostgresResource(url=fresh_db, retry_backoff_seconds=5)
    connects: list[int] = []
    sa.event.listen(resource.get_engine(), "connect", lambda *_: connects.append(1))
    started = time.monotonic()
    with pytest.raises(sa.exc.ProgrammingError), resource.connect() as conn:
        conn.execute(sa.text("select * from no_such_table"))
    assert time.monotonic() - started < 2
    assert len(connects) == 1


def test_health_check_and_session_settings(fresh_db: str) -> None:
    resource = PostgresResource(url=fresh_db, statement_timeout_ms=1234, application_name="storeml-test")
    health = resource.health_check()
    assert health["database"] == database_of(fresh_db)
    assert int(health["server_version"].split(".")[0]) >= 13
    assert 0 < health["latency_ms"] < 5000
    assert health["read_only"] is False
    settings = resource.read_sql(
        "select current_setting('statement_timeout') as st, current_setting('application_name') as app, :x as x",
        {"x": 7},
    )
    assert settings.to_dict("records") == [{"st": "1234ms", "app": "storeml-test", "x": 7}]
    engine = resource.get_engine()
    assert engine is resource.get_engine() and engine.pool.size() == 5


def test_url_display_and_adbc_uri() -> None:
    resource = PostgresResource(url="postgresql+psycopg2://me:pw@db.example:6543/storeml")
    assert resource.url_for_display() == "postgresql://me:***@db.example:6543/storeml"
    assert resource.adbc_uri() == "postgresql://me:pw@db.example:6543/storeml"
    with pytest.raises(ValueError, match="unknown database 'nope'"):
        PostgresResource(database="nope").resolved_url()


def test_resource_in_an_asset(fresh_db: str) -> None:
    seen: dict[str, Any] = {}

    @dg.asset
    def probe(postgres: PostgresResource) -> None:
        seen["frame"] = postgres.read_sql("select 41 + 1 as answer")

    dg.materialize([probe], resources={"postgres": PostgresResource(url=fresh_db)})
    pd.testing.assert_frame_equal(seen["frame"], pd.DataFrame({"answer": [42]}))


def test_database_name_resolves_through_settings(isolated_env: dict[str, str], pg_server_url: str) -> None:
    from storeml_assets.io import PostgresIOManager
    from storeml_assets_tests.conftest import create_database

    create_database(pg_server_url, database_of(isolated_env["storeml"]))
    resource = PostgresResource(database="storeml")
    assert resource.health_check()["database"] == database_of(isolated_env["storeml"])

    @dg.asset(key=["raw", "probe"])
    def probe_table() -> pd.DataFrame:
        return pd.DataFrame({"x": [1, 2]})

    dg.materialize([probe_table], resources={"io_manager": PostgresIOManager(database="storeml")})
    assert resource.read_sql("select sum(x) as s from raw.probe")["s"].tolist() == [3]


def test_pool_and_timeout_defaults_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREML_POOL_SIZE", "7")
    monkeypatch.setenv("STOREML_STATEMENT_TIMEOUT_MS", "1234")
    resource = PostgresResource()
    assert (resource.pool_size, resource.statement_timeout_ms) == (7, 1234)
    assert PostgresResource(pool_size=2).pool_size == 2
