"""Where the storefront's source databases are, for the extract assets."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from storeml_assets.db.locator import database_url
from storeml_assets.settings import SOURCE_DATABASES


class StorefrontSources(dg.ConfigurableResource):
    """The storefront's service databases, read-only to storeml.

    URLs come from the environment (``STOREML_PG_URL`` or one ``STOREML_<DB>_URL`` per service
    database) at run time, so no connection string ever shows in the UI.
    """

    application_name: str = Field(
        default="storeml-extract", description="application_name reported to the source servers."
    )

    def url(self, database: str) -> str:
        if database not in SOURCE_DATABASES:
            raise ValueError(f"{database!r} is not a storefront source database ({', '.join(SOURCE_DATABASES)})")
        return database_url(database)
