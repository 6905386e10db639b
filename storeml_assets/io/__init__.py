"""storeml's IO managers."""

from storeml_assets.io.postgres_io_manager import PostgresIOManager

__all__ = ["PostgresIOManager"]
