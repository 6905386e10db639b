"""Creating and dropping whole databases on a server (tests, benchmarks, scratch work)."""

from __future__ import annotations

from psycopg2 import sql

from storeml_assets.db.locator import connection
from storeml_assets.db.urls import with_database


def _on_maintenance_db(server_url: str, statement: sql.Composable) -> None:
    with connection(with_database(server_url, "postgres"), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(statement)


def create_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server; return its URL."""
    _on_maintenance_db(server_url, sql.SQL("create database {}").format(sql.Identifier(name)))
    return with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name`` if it exists, disconnecting its sessions."""
    _on_maintenance_db(server_url, sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
