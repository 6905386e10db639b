"""Database URL helpers: derive one database's URL from a server URL, and redact passwords."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_PASSWORD_IN_URL = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]*@")
_PASSWORD_KV = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)


def redact(text: str) -> str:
    """Replace every password in URLs or libpq key=value strings inside ``text`` with ``***``."""
    text = _PASSWORD_IN_URL.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _PASSWORD_KV.sub(lambda m: f"{m.group(1)}***", text)


def normalize_scheme(url: str) -> str:
    """``postgres://`` and driver-qualified schemes become plain ``postgresql://``."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme in {"postgres", "postgresql"}:
        scheme = "postgresql"
    else:
        raise ValueError(f"not a PostgreSQL URL (scheme {parts.scheme!r}): {redact(url)}")
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def with_database(server_url: str, database: str) -> str:
    """The URL of ``database`` on the server that ``server_url`` points at."""
    parts = urlsplit(normalize_scheme(server_url))
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def host_of(url: str) -> str:
    """``host:port`` of a URL, for messages (never the password)."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port or 5432}"


def sqlalchemy_url(url: str) -> str:
    """The psycopg2 SQLAlchemy form of a libpq URL."""
    return normalize_scheme(url).replace("postgresql://", "postgresql+psycopg2://", 1)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (else its type name), passwords redacted."""
    text = str(exc).strip()
    return redact(text.splitlines()[0] if text else type(exc).__name__)
