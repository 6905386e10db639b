"""``PostgresResource``: a pooled SQLAlchemy engine on one of storeml's databases."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa
from pydantic import Field, PrivateAttr
from sqlalchemy.engine import Connection, Engine

from storeml_assets.db.locator import DatabaseUnreachableError, database_url
from storeml_assets.db.urls import database_of, first_line, host_of, normalize_scheme, redact, sqlalchemy_url
from storeml_assets.settings import ALL_DATABASES, get_settings

READ_ONLY_SQLSTATE = "25006"


class ReadOnlyDatabaseError(RuntimeError):
    """A write was attempted through a read-only ``PostgresResource``."""


def resolve_url(database: str, url: str | None) -> str:
    """An explicit URL wins; otherwise the configured (or embedded) URL of ``database``."""
    return normalize_scheme(url) if url else database_url(database)


def _first_line(exc: BaseException) -> str:
    """The driver's own error (SQLAlchemy wraps it in ``.orig``), first line, redacted."""
    return first_line(getattr(exc, "orig", None) or exc)


class PostgresResource(dg.ConfigurableResource):
    """A pooled, retrying connection to one storeml database (read-only for source databases)."""

    database: str = Field(
        default="storeml",
        description=f"Which storeml database to use: one of {', '.join(ALL_DATABASES)}.",
    )
    url: str | None = Field(
        default=None,
        description="Explicit libpq URL (pass as dg.EnvVar); when unset the database's URL comes from "
        "settings, starting the embedded server on demand.",
    )
    read_only: bool = Field(
        default=False,
        description="Open every transaction read-only (default_transaction_read_only=on); use for source databases.",
    )
    pool_size: int = Field(
        default_factory=lambda: get_settings().pool_size,
        description="Connections kept in the pool (default: STOREML_POOL_SIZE, 5).",
    )
    statement_timeout_ms: int = Field(
        default_factory=lambda: get_settings().statement_timeout_ms,
        description="Server-side statement timeout in milliseconds, 0 disables it "
        "(default: STOREML_STATEMENT_TIMEOUT_MS, 600000).",
    )
    application_name: str = Field(
        default="storeml", description="application_name shown in pg_stat_activity."
    )
    connect_retries: int = Field(
        default=3,
        description="Retries after a failed connection attempt (connection errors only, not SQL errors).",
    )
    retry_backoff_seconds: float = Field(
        default=0.5, description="First retry delay; doubles on each further retry."
    )

    _engine: Engine | None = PrivateAttr(default=None)
    _resolved_url: str | None = PrivateAttr(default=None)

    # -- URLs ---------------------------------------------------------------------------
    def resolved_url(self) -> str:
        """The libpq URL in use (contains the password if any: never print it)."""
        if self._resolved_url is None:
            self._resolved_url = resolve_url(self.database, self.url)
        return self._resolved_url

    def url_for_display(self) -> str:
        return redact(self.resolved_url())

    def adbc_uri(self) -> str:
        """The libpq URI for ``adbc_driver_postgresql.dbapi.connect``."""
        return normalize_scheme(self.resolved_url())

    # -- engine -------------------------------------------------------------------------
    def get_engine(self) -> Engine:
        """The cached pooled engine (pre-ping, bounded pool, statement timeout, application_name)."""
        if self._engine is None:
            options = f"-c statement_timeout={int(self.statement_timeout_ms)}"
            if self.read_only:
                options += " -c default_transaction_read_only=on"
            self._engine = sa.create_engine(
                sqlalchemy_url(self.resolved_url()),
                pool_pre_ping=True,
                pool_size=self.pool_size,
                max_overflow=2,
                pool_timeout=30,
                pool_recycle=1800,
                connect_args={
                    "application_name": self.application_name,
                    "options": options,
                    "connect_timeout": 10,
                },
                hide_parameters=True,
            )
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.dispose()

    def _open(self) -> Connection:
        engine = self.get_engine()
        attempts = max(0, self.connect_retries) + 1
        delay = self.retry_backoff_seconds
        last: BaseException | None = None
        for attempt in range(1, attempts + 1):
            try:
                return engine.connect()
            except sa.exc.OperationalError as exc:
                last = exc
                if attempt < attempts:
                    time.sleep(delay)
                    delay *= 2
        assert last is not None
        raise DatabaseUnreachableError(
            f"cannot reach database {database_of(self.resolved_url()) or self.database!r} at "
            f"{host_of(self.resolved_url())} after {attempts} attempts: {_first_line(last)}"
        ) from None

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        """A pooled connection (connect retried with backoff); commit on success, rollback on error."""
        conn = self._open()
        try:
            with conn.begin():
                yield conn
        except sa.exc.DBAPIError as exc:
            if getattr(exc.orig, "pgcode", None) == READ_ONLY_SQLSTATE:
                raise ReadOnlyDatabaseError(
                    f"database {self.database!r} is opened read-only (PostgresResource read_only=True); "
                    f"the write was rejected: {_first_line(exc)}"
                ) from None
            raise
        finally:
            conn.close()

    # -- helpers ------------------------------------------------------------------------
    def read_sql(self, query: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run a query (``:name`` bound parameters) and return a pandas frame."""
        with self.connect() as conn:
            result = conn.execute(sa.text(query), dict(params or {}))
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

    def health_check(self) -> dict[str, Any]:
        """Server version, database, round-trip latency and mode; one redacted line on failure."""
        started = time.perf_counter()
        with self.connect() as conn:
            row = conn.execute(
                sa.text(
                    "select current_setting('server_version'), current_database(), "
                    "current_setting('transaction_read_only')"
                )
            ).one()
        return {
            "server_version": row[0],
            "database": row[1],
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "read_only": row[2] == "on",
            "url": self.url_for_display(),
        }
