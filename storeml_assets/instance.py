"""The project's Dagster instance: ``$STOREML_HOME/dagster_home`` with Postgres storage."""

from __future__ import annotations

import os
import shutil

from storeml_assets.db.locator import database_url
from storeml_assets.settings import Settings


def project_instance_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) pointed at the project's Dagster instance.

    Copies the repository's ``dagster.yaml`` into the instance home, sets ``DAGSTER_HOME`` and,
    unless configured, ``STOREML_DAGSTER_DB_URL`` (the instance's Postgres storage).
    """
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(settings.project_root / "dagster.yaml", home / "dagster.yaml")
    env = dict(os.environ if base is None else base)
    env["DAGSTER_HOME"] = str(home)
    env.setdefault("STOREML_DAGSTER_DB_URL", database_url("dagster", settings))
    return env


def use_project_instance(settings: Settings) -> None:
    """Point this process at the project's Dagster instance (``dg.DagsterInstance.get()``)."""
    os.environ.update(project_instance_env(settings))
