"""The serving API's configuration, resolved from the settings (no environment is read here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from storeml_assets.db.urls import sqlalchemy_url
from storeml_assets.settings import Settings, get_settings


@dataclass(frozen=True)
class ServeConfig:
    """What ``storeml serve`` needs: where the registry and the database are, and its limits."""

    #: MLflow tracking/registry URI (may hold a password: never log it).
    tracking_uri: str = field(repr=False)
    #: The ``storeml`` database (prediction log, features, warehouse); may hold a password.
    database_url: str = field(repr=False)
    cache_dir: Path
    poll_seconds: float = 10.0
    token: str | None = field(default=None, repr=False)
    max_body_bytes: int = 2_000_000
    max_instances: int = 10_000
    #: Log every prediction to ``mlops.predictions`` (off only to measure what the log costs).
    log_predictions: bool = True
    log_queue_size: int = 10_000
    log_batch_size: int = 500
    #: OpenMP threads each family's predictor thread uses (one: several spin-wait on a busy machine).
    predict_threads: int = 1
    pool_size: int = 5
    pool_timeout_seconds: float = 2.0
    connect_timeout_seconds: int = 3
    statement_timeout_ms: int = 5_000

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, start_embedded: bool = False) -> ServeConfig:
        """The configuration of ``settings``; the embedded server is started only if asked."""
        from storeml_assets.db.locator import database_url

        settings = settings or get_settings()
        tracking = settings.mlflow_tracking_uri or database_url("mlflow", settings, start=start_embedded)
        is_pg = tracking.split("://", 1)[0].split("+", 1)[0] in {"postgres", "postgresql"}
        return cls(
            tracking_uri=sqlalchemy_url(tracking) if is_pg else tracking,
            database_url=database_url("storeml", settings, start=start_embedded),
            cache_dir=settings.home / "serving-cache",
            poll_seconds=settings.serve_poll_seconds,
            token=settings.serve_token,
            max_body_bytes=settings.serve_max_body_bytes,
            pool_size=settings.pool_size,
        )
