"""The migration runner: create storeml's databases, then apply ``sql/<database>/*.sql`` in order.

Each database gets a ``public.storeml_schema_migrations`` table recording every applied file
(name, sha256 checksum, time). Files are applied in lexical order, each in its own transaction,
under a per-database advisory lock, so two migrators at once are safe: the second waits, then
finds everything applied. A second run is a no-op. Editing a file that was already applied is an
error naming the file: add a new file instead.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

from storeml_assets.db.locator import DatabaseUnreachableError, connect, connection, database_url
from storeml_assets.db.urls import database_of, host_of, redact, with_database
from storeml_assets.settings import ALL_DATABASES, OWN_DATABASES, Settings, get_settings

#: Key of the session-level advisory lock taken in every database while migrating it
#: (advisory locks are per database, so one key serves all of them). ASCII "storeml" + 1.
MIGRATION_LOCK_KEY: int = 0x73746F72656D6C01

#: The table, in the ``public`` schema of every migrated database, recording applied files.
MIGRATIONS_TABLE = "storeml_schema_migrations"

MAINTENANCE_DATABASE = "postgres"
APPLICATION_NAME = "storeml-migrate"

_CREATE_MIGRATIONS_TABLE = sql.SQL(
    "create table if not exists public.{} ("
    " filename text primary key,"
    " checksum char(64) not null,"
    " applied_at timestamptz not null default now(),"
    " execution_ms integer)"
).format(sql.Identifier(MIGRATIONS_TABLE))


class MigrationError(RuntimeError):
    """A migration could not be applied; the message names database and file, never a password."""


@dataclass
class DatabaseMigration:
    """What one run did to one database."""

    database: str
    created: bool = False
    applied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass
class MigrationReport:
    """What one run did, per database, in ``ALL_DATABASES`` order."""

    databases: dict[str, DatabaseMigration] = field(default_factory=dict)

    def __getitem__(self, database: str) -> DatabaseMigration:
        return self.databases[database]

    @property
    def applied_count(self) -> int:
        return sum(len(d.applied) for d in self.databases.values())

    @property
    def skipped_count(self) -> int:
        return sum(len(d.skipped) for d in self.databases.values())

    @property
    def created_databases(self) -> list[str]:
        return [d.database for d in self.databases.values() if d.created]

    @property
    def applied(self) -> dict[str, list[str]]:
        return {db: list(d.applied) for db, d in self.databases.items()}


@dataclass(frozen=True)
class MigrationFile:
    """One ``.sql`` file: its name, text and sha256 checksum."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    def read(self) -> tuple[str, str]:
        """The file's text and the hex sha256 of its bytes."""
        raw = self.path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MigrationError(f"{self.path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        return text, hashlib.sha256(raw).hexdigest()


def migration_files(database: str, sql_dir: Path) -> list[MigrationFile]:
    """The ``.sql`` files of one database in lexical order (none when its folder is missing)."""
    folder = sql_dir / database
    if not folder.is_dir():
        return []
    return [MigrationFile(p) for p in sorted(folder.glob("*.sql"), key=lambda p: p.name) if p.is_file()]


def managed_databases(settings: Settings) -> list[str]:
    """The databases storeml migrates: all of them, but never real (external) storefront sources."""
    if settings.source_mode == "external":
        return list(OWN_DATABASES)
    return list(ALL_DATABASES)


def _selected(databases: Sequence[str] | None, settings: Settings) -> list[str]:
    if databases is None:
        return managed_databases(settings)
    unknown = [db for db in databases if db not in ALL_DATABASES]
    if unknown:
        raise ValueError(f"unknown database {unknown[0]!r}; known: {', '.join(ALL_DATABASES)}")
    return [db for db in ALL_DATABASES if db in databases]


def _pg_first_line(exc: BaseException) -> str:
    text = (getattr(exc, "pgerror", None) or str(exc) or type(exc).__name__).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return redact(first)


def _database_exists_via(maintenance_url: str, name: str) -> bool:
    with connection(maintenance_url, application_name=APPLICATION_NAME) as conn, conn.cursor() as cur:
        cur.execute("select 1 from pg_catalog.pg_database where datname = %s", (name,))
        return cur.fetchone() is not None


def _can_connect(url: str) -> bool | None:
    """True if ``url`` accepts connections, False if its database does not exist, None otherwise."""
    try:
        connect(url, application_name=APPLICATION_NAME).close()
        return True
    except DatabaseUnreachableError as exc:
        return False if "does not exist" in str(exc) else None


def database_exists(url: str) -> bool:
    """Whether the database ``url`` names exists (asked of the server's maintenance database)."""
    name = database_of(url)
    try:
        return _database_exists_via(with_database(url, MAINTENANCE_DATABASE), name)
    except DatabaseUnreachableError:
        # No access to the maintenance database (e.g. a managed server): ask the database itself.
        reachable = _can_connect(url)
        if reachable is None:
            raise  # the server itself is unreachable: one redacted line naming host and reason
        return reachable
    except psycopg2.Error as exc:
        raise MigrationError(f"{name}: cannot look up database on {host_of(url)}: {_pg_first_line(exc)}") from None


def ensure_database(url: str) -> bool:
    """Create the database ``url`` names unless it exists; return whether this call created it.

    Tolerates a concurrent creator. A server where storeml may not create databases is fine
    as long as the database already exists.
    """
    name = database_of(url)
    if not name:
        raise MigrationError(f"database URL for {host_of(url)} names no database")
    if database_exists(url):
        return False
    maintenance_url = with_database(url, MAINTENANCE_DATABASE)
    try:
        conn = connect(maintenance_url, application_name=APPLICATION_NAME)
    except DatabaseUnreachableError as exc:
        raise MigrationError(f"{name}: database is missing and cannot be created: {exc}") from None
    try:
        conn.autocommit = True  # create database refuses to run inside a transaction
        with conn.cursor() as cur:
            cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        return True
    except (psycopg2.errors.DuplicateDatabase, psycopg2.errors.UniqueViolation):
        return False  # a concurrent migrator created it first
    except psycopg2.Error as exc:
        raise MigrationError(
            f"{name}: cannot create database on {host_of(url)}: {_pg_first_line(exc)}"
        ) from None
    finally:
        conn.close()


def _applied_checksums(cur: psycopg2.extensions.cursor) -> dict[str, str]:
    cur.execute("select to_regclass(%s) is not null", (f"public.{MIGRATIONS_TABLE}",))
    row = cur.fetchone()
    if not row or not row[0]:
        return {}
    cur.execute(
        sql.SQL("select filename, checksum from public.{}").format(sql.Identifier(MIGRATIONS_TABLE))
    )
    return {name: checksum.strip() for name, checksum in cur.fetchall()}


def _migrate_database(
    database: str,
    url: str,
    files: list[MigrationFile],
    result: DatabaseMigration,
    log: Callable[[str], None],
) -> None:
    """Apply ``files`` to one existing database under its advisory lock."""
    if not files:
        return
    conn = connect(url, application_name=APPLICATION_NAME)
    try:
        conn.autocommit = False
        with conn.cursor() as cur:
            cur.execute("select pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
            cur.execute(_CREATE_MIGRATIONS_TABLE)
            conn.commit()
            applied = _applied_checksums(cur)
            conn.commit()
            contents: dict[str, tuple[str, str]] = {}
            for migration in files:
                text, checksum = contents[migration.name] = migration.read()
                recorded = applied.get(migration.name)
                if recorded is not None and recorded != checksum:
                    raise MigrationError(
                        f"{database}: {migration.name} was changed after it was applied "
                        f"(checksum {checksum[:12]} != recorded {recorded[:12]}); "
                        "restore it and put the change in a new file"
                    )
            for migration in files:
                if migration.name in applied:
                    result.skipped.append(migration.name)
                    continue
                text, checksum = contents[migration.name]
                started = time.perf_counter()
                try:
                    if text.strip():
                        cur.execute(text)
                    elapsed_ms = int((time.perf_counter() - started) * 1000)
                    cur.execute(
                        sql.SQL(
                            "insert into public.{} (filename, checksum, execution_ms) values (%s, %s, %s)"
                        ).format(sql.Identifier(MIGRATIONS_TABLE)),
                        (migration.name, checksum, elapsed_ms),
                    )
                    conn.commit()
                except psycopg2.Error as exc:
                    conn.rollback()
                    raise MigrationError(
                        f"{database}: {migration.name} failed: {_pg_first_line(exc)}"
                    ) from None
                # A file may have used plain ``set``: do not let it leak into the next file.
                cur.execute("reset all")
                conn.commit()
                result.applied.append(migration.name)
                log(f"{database}: applied {migration.name} ({elapsed_ms} ms)")
    except psycopg2.Error as exc:
        raise MigrationError(f"{database}: migration failed: {_pg_first_line(exc)}") from None
    finally:
        try:
            if not conn.closed:
                conn.rollback()
                with conn.cursor() as cur:
                    cur.execute("select pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
                conn.commit()
        except psycopg2.Error:
            pass  # closing the session releases the lock anyway
        conn.close()


def migrate(
    settings: Settings | None = None,
    *,
    sql_dir: Path | None = None,
    databases: Sequence[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> MigrationReport:
    """Create missing databases, then apply each database's pending ``.sql`` files in order.

    Raises :class:`MigrationError` naming database and file when a file fails (earlier files
    stay applied; the failing one is rolled back) or when an applied file was changed.
    """
    settings = settings or get_settings()
    sql_dir = sql_dir or settings.sql_dir
    emit = log or (lambda _line: None)
    report = MigrationReport()
    for database in _selected(databases, settings):
        url = database_url(database, settings)
        result = DatabaseMigration(database)
        report.databases[database] = result
        result.created = ensure_database(url)
        if result.created:
            emit(f"{database}: created database")
        _migrate_database(database, url, migration_files(database, sql_dir), result, emit)
    return report


def pending(settings: Settings | None = None, sql_dir: Path | None = None) -> dict[str, list[str]]:
    """Files not yet applied, per database (a missing database has all its files pending)."""
    settings = settings or get_settings()
    sql_dir = sql_dir or settings.sql_dir
    out: dict[str, list[str]] = {}
    for database in managed_databases(settings):
        names = [f.name for f in migration_files(database, sql_dir)]
        url = database_url(database, settings)
        if not names or not database_exists(url):
            out[database] = names
            continue
        try:
            with connection(url, application_name=APPLICATION_NAME) as conn, conn.cursor() as cur:
                applied = _applied_checksums(cur)
        except psycopg2.Error as exc:
            raise MigrationError(f"{database}: cannot read applied migrations: {_pg_first_line(exc)}") from None
        out[database] = [name for name in names if name not in applied]
    return out
