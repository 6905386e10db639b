"""storeml's Dagster resources."""

from storeml_assets.resources.postgres import PostgresResource, ReadOnlyDatabaseError, resolve_url

__all__ = ["PostgresResource", "ReadOnlyDatabaseError", "resolve_url"]
