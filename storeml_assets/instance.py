"""The project's Dagster instance: ``$STOREML_HOME/dagster_home`` with Postgres storage.

The repository's ``dagster.yaml`` stores runs and event logs with :class:`ProjectPostgresStorage`:
the ``dagster`` database wherever storeml's settings put it (``STOREML_DAGSTER_DB_URL``, else the
configured server, else the embedded server, started on demand). So plain Dagster commands run
from the checkout (``dagster dev``, ``dagster asset materialize ...``) need no variable: the
``.env`` that every storeml command writes there sets ``DAGSTER_HOME``, and Dagster reads it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster_postgres import DagsterPostgresStorage

from storeml_assets.db.locator import database_url
from storeml_assets.settings import Settings, get_settings

DOTENV_HEADER = "# Written by storeml (git-ignored): plain `dagster ...` commands run here use the project's instance.\n"


class ProjectPostgresStorage(DagsterPostgresStorage):
    """dagster-postgres storage on the project's ``dagster`` database.

    Loading it migrates the ``dagster`` database. On the embedded default (no ``STOREML_PG_URL``,
    no ``STOREML_DAGSTER_DB_URL``) it migrates every database the embedded server holds, as
    ``storeml dev`` does (idempotent, locked, ~0.1 s when nothing is pending), so a plain
    ``dagster asset materialize`` on a fresh checkout finds its tables. Configured servers are
    migrated with ``storeml db migrate``.
    """

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config_value(
        cls, inst_data: Any, config_value: Mapping[str, Any]
    ) -> ProjectPostgresStorage:
        from storeml_assets.db.migrate import migrate

        settings = get_settings()
        embedded_default = settings.server_url is None and "dagster" not in settings.database_urls
        migrate(settings, databases=None if embedded_default else ["dagster"])
        return cls(postgres_url=database_url("dagster", settings), inst_data=inst_data)


def link_instance_config(settings: Settings) -> Path:
    """``$STOREML_HOME/dagster_home/dagster.yaml``: a link to the repository's file (a copy where links fail)."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    source = settings.project_root / "dagster.yaml"
    target = home / "dagster.yaml"
    if target.is_symlink() and target.resolve() == source.resolve():
        return target
    if target.exists() or target.is_symlink():
        target.unlink()
    try:
        target.symlink_to(source)
    except OSError:
        shutil.copyfile(source, target)
    return target


def write_dotenv(settings: Settings) -> Path | None:
    """The checkout's ``.env`` with ``DAGSTER_HOME`` of the default data folder (no URL, no secret).

    Only for the default data folder (``STOREML_HOME`` unset): a run with another data folder
    must not repoint the checkout. Returns the file when it was written or already right.
    """
    if settings.home != settings.project_root / ".storeml":
        return None
    link_instance_config(settings)
    path = settings.project_root / ".env"
    wanted = f"DAGSTER_HOME={settings.dagster_home}"
    lines = path.read_text().splitlines() if path.exists() else []
    if wanted in lines:
        return path
    kept = [line for line in lines if not line.startswith("DAGSTER_HOME=") and line != DOTENV_HEADER.strip()]
    path.write_text(DOTENV_HEADER + "\n".join([*kept, wanted]) + "\n")
    return path


def project_instance_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) pointed at the project's Dagster instance.

    Links the repository's ``dagster.yaml`` into the instance home and sets ``DAGSTER_HOME``; the
    storage finds the ``dagster`` database from the same settings.
    """
    link_instance_config(settings)
    env = dict(os.environ if base is None else base)
    env["DAGSTER_HOME"] = str(settings.dagster_home)
    return env


def use_project_instance(settings: Settings) -> None:
    """Point this process at the project's Dagster instance (``dg.DagsterInstance.get()``)."""
    os.environ.update(project_instance_env(settings))
