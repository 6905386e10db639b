"""ADBC connections are reused within a process, each use starting from a clean session."""

from __future__ import annotations

from typing import Any

import pytest

from storeml_assets.io.pg_tables import adbc_connection


def _one(conn: Any, query: str) -> Any:
    with conn.cursor() as cur:
        cur.execute(query)
        row = cur.fetchone()
    return row[0] if row else None


def test_a_connection_is_reused_with_its_session_reset(fresh_db: str) -> None:
    with adbc_connection(fresh_db, application_name="storeml-test-reuse") as conn:
        first_pid = _one(conn, "select pg_backend_pid()")
        with conn.cursor() as cur:
            cur.execute("set work_mem = '77MB'")
            cur.execute("set time zone 'America/New_York'")
        conn.commit()
    with adbc_connection(fresh_db, application_name="storeml-test-reuse") as conn:
        assert _one(conn, "select pg_backend_pid()") == first_pid
        assert _one(conn, "select current_setting('work_mem')") != "77MB"
        assert _one(conn, "select current_setting('TimeZone')") == "UTC"
        assert _one(conn, "select current_setting('application_name')") == "storeml-test-reuse"


def test_uncommitted_work_is_rolled_back_when_the_block_ends(fresh_db: str) -> None:
    with adbc_connection(fresh_db) as conn, conn.cursor() as cur:
        cur.execute("create table left_uncommitted (x int)")
    with adbc_connection(fresh_db) as conn:
        assert _one(conn, "select to_regclass('left_uncommitted') is null") is True


def test_a_connection_that_saw_an_error_is_not_reused(fresh_db: str) -> None:
    with pytest.raises(RuntimeError, match="planted"), adbc_connection(fresh_db) as conn:
        failed_pid = _one(conn, "select pg_backend_pid()")
        raise RuntimeError("planted failure")
    with adbc_connection(fresh_db) as conn:
        assert _one(conn, "select pg_backend_pid()") != failed_pid
