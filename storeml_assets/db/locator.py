"""Where each database lives: a configured URL, the configured server, or the embedded server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg2
import psycopg2.extensions

from storeml_assets.db.embedded import EmbeddedPostgres
from storeml_assets.db.urls import host_of, redact, with_database
from storeml_assets.settings import ALL_DATABASES, Settings, get_settings


class DatabaseUnreachableError(RuntimeError):
    """A database could not be reached; the message names host and reason, never a password."""


def server_url(settings: Settings | None = None, *, start: bool = True) -> str:
    """The URL of the server holding storeml's databases (embedded unless configured)."""
    settings = settings or get_settings()
    if settings.server_url:
        return settings.server_url
    embedded = EmbeddedPostgres.from_settings(settings)
    if start:
        return embedded.ensure_running()
    return embedded.server_url()


def database_url(database: str, settings: Settings | None = None, *, start: bool = True) -> str:
    """The URL of one of storeml's databases, starting the embedded server on demand."""
    settings = settings or get_settings()
    if database not in ALL_DATABASES:
        raise ValueError(f"unknown database {database!r}; known: {', '.join(ALL_DATABASES)}")
    if database in settings.database_urls:
        return settings.database_urls[database]
    return with_database(server_url(settings, start=start), database)


def configured_servers(settings: Settings | None = None) -> list[str]:
    """``host:port`` of every configured server holding one of storeml's databases (none when embedded)."""
    settings = settings or get_settings()
    hosts = [host_of(settings.server_url)] if settings.server_url else []
    hosts += [host_of(url) for url in settings.database_urls.values()]
    return sorted(set(hosts))


def check_reachable(settings: Settings | None = None) -> list[str]:
    """Connect once to every configured server; return their ``host:port``, or raise one redacted line."""
    settings = settings or get_settings()
    urls: dict[str, str] = {}
    if settings.server_url:
        urls[host_of(settings.server_url)] = settings.server_url
    for url in settings.database_urls.values():
        urls.setdefault(host_of(url), url)
    for url in urls.values():
        try:
            connect(url, application_name="storeml-check", connect_timeout=5).close()
        except DatabaseUnreachableError as exc:
            if "does not exist" not in str(exc):  # the server answered: `db migrate` creates databases
                raise
    return sorted(urls)


def connect(url: str, *, application_name: str = "storeml", connect_timeout: int = 10) -> psycopg2.extensions.connection:
    """A psycopg2 connection, with failures turned into one redacted line."""
    try:
        return psycopg2.connect(url, application_name=application_name, connect_timeout=connect_timeout)
    except (psycopg2.OperationalError, psycopg2.ProgrammingError) as exc:
        reason = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else "unknown reason")
        raise DatabaseUnreachableError(
            f"cannot reach database at {host_of(url)}: {reason}"
        ) from None


@contextlib.contextmanager
def connection(url: str, *, autocommit: bool = False, application_name: str = "storeml") -> Iterator[psycopg2.extensions.connection]:
    conn = connect(url, application_name=application_name)
    conn.autocommit = autocommit
    try:
        yield conn
        if not autocommit:
            conn.commit()
    except BaseException:
        if not autocommit:
            conn.rollback()
        raise
    finally:
        conn.close()
