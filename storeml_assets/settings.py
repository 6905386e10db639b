"""One settings object, read from environment variables.

Every variable is documented in the README. Nothing here ever holds a password in a form that
is printed: use :func:`storeml_assets.db.urls.redact` before showing a URL to anyone.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from storeml_assets.db.urls import check_url

#: Databases storeml knows, in creation order. Source databases first.
SOURCE_DATABASES: tuple[str, ...] = (
    "auth_db",
    "product_db",
    "cart_db",
    "promotion_db",
    "storefront_db",
)
OWN_DATABASES: tuple[str, ...] = ("storeml", "dagster", "mlflow")
ALL_DATABASES: tuple[str, ...] = SOURCE_DATABASES + OWN_DATABASES

#: Environment variable that overrides the URL of one database.
DATABASE_URL_ENV: dict[str, str] = {
    "auth_db": "STOREML_AUTH_DB_URL",
    "product_db": "STOREML_PRODUCT_DB_URL",
    "cart_db": "STOREML_CART_DB_URL",
    "promotion_db": "STOREML_PROMOTION_DB_URL",
    "storefront_db": "STOREML_STOREFRONT_DB_URL",
    "storeml": "STOREML_DB_URL",
    "dagster": "STOREML_DAGSTER_DB_URL",
    "mlflow": "STOREML_MLFLOW_DB_URL",
}

DEFAULT_EMBEDDED_PORT = 54329
DEFAULT_PARTITIONS_START = "2026-01-01"
SIMULATOR_SCALES: tuple[str, ...] = ("tiny", "small", "medium", "large")


class SettingsError(ValueError):
    """A ``STOREML_*`` variable has a value storeml cannot use; the message names the variable."""


def _project_root() -> Path:
    """The checkout this package is installed from (editable install), else the cwd."""
    candidate = Path(__file__).resolve().parents[1]
    if (candidate / "pyproject.toml").exists() and (candidate / "sql").is_dir():
        return candidate
    return Path.cwd()


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise SettingsError(f"{name} must be {bounds}, got {value}")
    return value


def _env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw.strip()!r}") from None
    if minimum is not None and value < minimum:
        raise SettingsError(f"{name} must be at least {minimum:g}, got {value:g}")
    return value


def _env_url(name: str) -> str | None:
    """A database URL variable, checked; the error names the variable, never the password."""
    raw = os.environ.get(name, "").strip()
    try:
        return check_url(raw, name) if raw else None
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def _env_date(name: str, default: str) -> str:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise SettingsError(f"{name} must be a date (YYYY-MM-DD), got {raw!r}") from None


def _env_timezone(name: str, default: str) -> str:
    """An IANA time zone name (``Europe/Berlin``), checked against the zone database."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"{name} must be an IANA time zone such as UTC or Europe/Berlin, got {raw!r}") from None
    return raw


def _env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, "").strip().lower() or default
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _env_min_rows(name: str) -> dict[str, int]:
    """``orders=1000,reviews=100`` as ``{table: minimum}`` (the table names are checked by the catalog)."""
    overrides: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in os.environ.get(name, "").split(","))):
        table, sep, value = item.partition("=")
        if not sep or not table.strip() or not value.strip().isdigit():
            raise SettingsError(f"{name} entry {item!r} must look like <source table>=<non-negative integer>")
        overrides[table.strip()] = int(value)
    return overrides


@dataclass(frozen=True)
class Settings:
    """storeml's configuration, resolved from the environment once per process."""

    project_root: Path
    home: Path
    server_url: str | None
    database_urls: dict[str, str] = field(default_factory=dict)
    embedded_port: int = DEFAULT_EMBEDDED_PORT
    source_mode: str = "synthetic"
    automation_enabled: bool = True
    statement_timeout_ms: int = 600_000
    pool_size: int = 5
    #: Retraining-sensor thresholds (``STOREML_RETRAIN_*``); None: gate ``data_drift``'s maximum.
    retrain_drift_share: float | None = None
    retrain_new_orders_share: float = 0.5
    retrain_max_age_days: int = 30
    retrain_bootstrap: bool = True
    retrain_sensor_interval_seconds: int = 60
    #: First day of the daily partitions of the event tables (YYYY-MM-DD).
    partitions_start: str = DEFAULT_PARTITIONS_START
    #: True when ``STOREML_PARTITIONS_START`` is set; else, in external mode, the first order's day is the start.
    partitions_start_set: bool = False
    #: IANA time zone whose midnight separates two days of the daily partitions (``STOREML_DAY_TIMEZONE``).
    day_timezone: str = "UTC"
    #: Default simulator scale offered in the UI.
    scale: str = "small"
    #: How many best-selling products demand forecasting forecasts beside every category (``STOREML_FORECAST_TOP_N``).
    forecast_top_n: int = 20
    #: Processes that train model families side by side in `storeml run`/`demo` (``STOREML_MODEL_PROCESSES``;
    #: default: the cores this process may use, at most 4; 1: one family after the other in the command's process).
    model_processes: int = 1
    #: Overrides of the source tables' minimum row counts (``STOREML_MIN_ROWS``).
    min_rows: dict[str, int] = field(default_factory=dict)
    #: MLflow tracking/registry URI (e.g. ``http://mlflow:5000``) overriding the ``mlflow`` database; may
    #: hold a password. Not MLflow's own ``MLFLOW_TRACKING_URI``, which ``mlflow.set_tracking_uri`` rewrites.
    mlflow_tracking_uri: str | None = None
    #: Bearer token the serving API's predict paths require (``STOREML_SERVE_TOKEN``); None: open.
    serve_token: str | None = field(default=None, repr=False)
    #: Seconds between two polls of each family's ``champion`` alias by ``storeml serve``.
    serve_poll_seconds: float = 10.0
    #: Largest request body ``storeml serve`` accepts, in bytes.
    serve_max_body_bytes: int = 2_000_000

    @property
    def sql_dir(self) -> Path:
        return self.project_root / "sql"

    @property
    def embedded_data_dir(self) -> Path:
        return self.home / "pg"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster_home"

    @property
    def mlflow_artifacts_dir(self) -> Path:
        return self.home / "mlflow-artifacts"

    @property
    def uses_embedded(self) -> bool:
        """True when no server URL is configured for any database storeml needs."""
        if self.server_url:
            return False
        return not all(db in self.database_urls for db in ALL_DATABASES)

    @classmethod
    def from_env(cls) -> Settings:
        root = _project_root()
        home_raw = os.environ.get("STOREML_HOME")
        home = Path(home_raw).expanduser().resolve() if home_raw else root / ".storeml"
        overrides = {db: url for db, var in DATABASE_URL_ENV.items() if (url := _env_url(var))}
        source_mode = os.environ.get("STOREML_SOURCE_MODE", "synthetic").strip().lower()
        if source_mode not in {"synthetic", "external"}:
            raise SettingsError(
                f"STOREML_SOURCE_MODE must be 'synthetic' or 'external', got {source_mode!r}"
            )
        return cls(
            project_root=root,
            home=home,
            server_url=_env_url("STOREML_PG_URL"),
            database_urls=overrides,
            embedded_port=_env_int("STOREML_EMBEDDED_PORT", DEFAULT_EMBEDDED_PORT, minimum=1, maximum=65535),
            source_mode=source_mode,
            automation_enabled=_env_bool("STOREML_AUTOMATION", True),
            statement_timeout_ms=_env_int("STOREML_STATEMENT_TIMEOUT_MS", 600_000, minimum=0),
            pool_size=_env_int("STOREML_POOL_SIZE", 5, minimum=1),
            retrain_drift_share=(_env_float("STOREML_RETRAIN_DRIFT_SHARE", 0.0)
                                 if os.environ.get("STOREML_RETRAIN_DRIFT_SHARE", "").strip() else None),
            retrain_new_orders_share=_env_float("STOREML_RETRAIN_NEW_ORDERS_SHARE", 0.5),
            retrain_max_age_days=int(_env_float("STOREML_RETRAIN_MAX_AGE_DAYS", 30)),
            retrain_bootstrap=_env_bool("STOREML_RETRAIN_BOOTSTRAP", True),
            retrain_sensor_interval_seconds=int(_env_float("STOREML_RETRAIN_SENSOR_INTERVAL_SECONDS", 60, minimum=1)),
            partitions_start=_env_date("STOREML_PARTITIONS_START", DEFAULT_PARTITIONS_START),
            partitions_start_set=bool(os.environ.get("STOREML_PARTITIONS_START", "").strip()),
            day_timezone=_env_timezone("STOREML_DAY_TIMEZONE", "UTC"),
            scale=_env_choice("STOREML_SCALE", "small", SIMULATOR_SCALES),
            forecast_top_n=_env_int("STOREML_FORECAST_TOP_N", 20, minimum=0, maximum=10_000),
            model_processes=_env_int("STOREML_MODEL_PROCESSES", min(usable_cores(), 4), minimum=1, maximum=64),
            min_rows=_env_min_rows("STOREML_MIN_ROWS"),
            mlflow_tracking_uri=os.environ.get("STOREML_MLFLOW_TRACKING_URI", "").strip() or None,
            serve_token=os.environ.get("STOREML_SERVE_TOKEN", "").strip() or None,
            serve_poll_seconds=_env_float("STOREML_SERVE_POLL_SECONDS", 10.0, minimum=0.1),
            serve_max_body_bytes=_env_int("STOREML_SERVE_MAX_BODY_BYTES", 2_000_000, minimum=1024),
        )


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _storeml_environment() -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("STOREML_")))


@functools.lru_cache(maxsize=8)
def _settings_for(environment: tuple[tuple[str, str], ...]) -> Settings:
    return Settings.from_env()


def get_settings() -> Settings:
    """The process's settings, built once per set of ``STOREML_*`` values.

    Cached on the ``STOREML_*`` variables themselves, so a changed variable (a test's
    ``monkeypatch.setenv``, a command setting ``STOREML_HOME``) is never answered from a stale copy.
    """
    return _settings_for(_storeml_environment())


def clear_settings_cache() -> None:
    """Forget every cached :class:`Settings` (tests that change the working tree or the environment)."""
    _settings_for.cache_clear()
