"""Database URL helpers: check a URL, derive one database's URL from a server URL, redact passwords.

Every message that shows a URL, or any text that may contain one (a driver's error), goes
through :func:`redact`. It removes passwords two ways: by shape (``user:password@`` with or
without a scheme, ``password=...`` in a query string or a libpq key=value string), and by value
(the passwords of every URL configured in the environment, raw and percent-encoded), so a
password is hidden even when a malformed URL was split in an unexpected place by a library.
"""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

#: ``user:password@`` in a URL, with or without a scheme; the password runs to the last ``@`` of
#: the token, so an unencoded ``/``, ``:`` or ``@`` inside it is covered too.
_USERINFO_PASSWORD = re.compile(
    r"(?P<prefix>(?:[a-zA-Z][a-zA-Z0-9+.-]*://)?[^\s:/@'\"`=]*):(?!//)(?P<password>[^\s'\"`]*)@"
)
#: ``password=...`` in a query string or a libpq key=value string (quoted or not).
_PASSWORD_KV = re.compile(r"(?P<key>password\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'|[^\s&'\"`]+)", re.IGNORECASE)

#: Shortest configured password that is also hidden by value wherever it appears.
_MIN_SECRET_LENGTH = 4
_SCHEMES = {"postgres", "postgresql"}


class InvalidUrlError(ValueError):
    """A database URL that cannot be used; the message names where it came from, never the password."""


def _secret_variants(secret: str) -> set[str]:
    variants = {secret, unquote(secret), quote(secret, safe=""), quote(unquote(secret), safe="")}
    return {v for v in variants if len(v) >= _MIN_SECRET_LENGTH}


def passwords_in(url: str) -> set[str]:
    """Every password-like part of ``url`` (userinfo password, ``password=`` values), leniently parsed."""
    found: set[str] = set()
    text = url.strip()
    rest = text.split("://", 1)[1] if "://" in text else text
    if "@" in rest:
        userinfo = rest.rsplit("@", 1)[0]
        if ":" in userinfo:
            found |= _secret_variants(userinfo.split(":", 1)[1])
    for match in _PASSWORD_KV.finditer(text):
        found |= _secret_variants(match["value"].strip("'"))
    if "?" in text:
        for key, value in parse_qsl(text.split("?", 1)[1], keep_blank_values=True):
            if key.lower() == "password":
                found |= _secret_variants(value)
    return found


def configured_secrets(environ: dict[str, str] | None = None) -> set[str]:
    """The passwords of every ``STOREML_*`` URL variable in the environment."""
    env = os.environ if environ is None else environ
    secrets: set[str] = set()
    for name, value in env.items():
        if name.startswith("STOREML_") and (name.endswith("_URL") or name.endswith("_URI")) and value:
            secrets |= passwords_in(value)
    return secrets


def redact(text: str) -> str:
    """``text`` with every password (in URLs, key=value strings, or configured) replaced by ``***``."""
    for secret in sorted(configured_secrets(), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _PASSWORD_KV.sub(lambda m: f"{m['key']}***", text)  # first: a query value may hold an '@'
    return _USERINFO_PASSWORD.sub(lambda m: f"{m['prefix']}:***@", text)


def check_url(url: str, source: str = "database URL") -> str:
    """``url`` as a plain ``postgresql://`` URL, or one clear error naming ``source`` (never the password).

    Rejects a missing or foreign scheme, an unencoded ``/`` or ``@`` in the user or password, a
    port that is not a number in 1..65535, and a missing host.
    """
    text = url.strip()
    shown = redact(text)
    if "://" not in text:
        raise InvalidUrlError(f"{source} is not a PostgreSQL URL (it must start with postgresql://): {shown}")
    scheme_raw, rest = text.split("://", 1)
    scheme = scheme_raw.split("+", 1)[0].lower()
    if scheme not in _SCHEMES:
        raise InvalidUrlError(
            f"{source} is not a PostgreSQL URL (scheme {redact(scheme_raw)!r}, expected postgresql://): {shown}"
        )
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    unencoded = InvalidUrlError(
        f"{source} has an unencoded '/', '@', '?' or '#' in its user or password "
        f"(percent-encode them: %2F, %40, %3F, %23): {shown}"
    )
    if authority.count("@") > 1 or ("@" not in authority and "@" in rest.split("?", 1)[0]):
        raise unencoded
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        if "@" in rest and "@" not in authority:
            raise unencoded from None
        raise InvalidUrlError(f"{source} has a port that is not a number in 1..65535: {shown}") from None
    if not parts.hostname and "host=" not in parts.query:
        raise InvalidUrlError(f"{source} names no host: {shown}")
    return "postgresql://" + rest


def normalize_scheme(url: str) -> str:
    """``postgres://`` and driver-qualified schemes become plain ``postgresql://`` (checked: see :func:`check_url`)."""
    return check_url(url)


def with_database(server_url: str, database: str) -> str:
    """The URL of ``database`` on the server that ``server_url`` points at."""
    parts = urlsplit(normalize_scheme(server_url))
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def host_of(url: str) -> str:
    """``host:port`` of a URL, for messages (never the password, never a fragment of it)."""
    try:
        parts = urlsplit(check_url(url))
        host = parts.hostname or "localhost"
        return f"{host}:{parts.port or 5432}"
    except ValueError:
        return "an invalid URL"


def sqlalchemy_url(url: str) -> str:
    """The psycopg2 SQLAlchemy form of a libpq URL."""
    return normalize_scheme(url).replace("postgresql://", "postgresql+psycopg2://", 1)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (else its type name), passwords redacted."""
    text = str(exc).strip()
    return redact(text.splitlines()[0] if text else type(exc).__name__)
