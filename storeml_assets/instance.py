"""The project's Dagster instance: ``$STOREML_HOME/dagster_home`` with Postgres storage.

The repository's ``dagster.yaml`` stores runs and event logs with :class:`ProjectPostgresStorage`:
the ``dagster`` database wherever storeml's settings put it (``STOREML_DAGSTER_DB_URL``, else the
configured server, else the embedded server, started on demand). So plain Dagster commands run
from the checkout (``dagster dev``, ``dagster asset materialize ...``) need no variable: the
``.env`` that every storeml command writes there sets ``DAGSTER_HOME``, and Dagster reads it.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dagster._core.events import DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster_postgres import DagsterPostgresStorage, PostgresEventLogStorage
from dagster_postgres.utils import create_pg_engine
from dagster_shared.serdes import serialize_value

from storeml_assets.db.locator import database_url
from storeml_assets.settings import Settings, get_settings

#: Dagster's switch for writing the events of a batch (one per partition of a ranged run: planned and
#: materialized) in one statement instead of one each; 0 turns it off.
EVENT_BATCH_SIZE_ENV = "DAGSTER_EVENT_BATCH_SIZE"
EVENT_BATCH_SIZE = "1000"
#: Connections each storage keeps open for reuse (more are opened, then closed, under bursts).
HELD_CONNECTIONS = 1

DOTENV_HEADER = "# Written by storeml (git-ignored): plain `dagster ...` commands run here use the project's instance.\n"


def _is_planned_materialization(event: EventLogEntry) -> bool:
    return event.get_dagster_event().event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED


class ProjectEventLogStorage(PostgresEventLogStorage):
    """dagster-postgres event log that also writes a batch of planned materializations at once.

    A run over a range of daily partitions plans one materialization per partition and asset.
    dagster-postgres writes a batch of materializations in one statement but planned ones one
    event at a time; this writes them like materializations: one insert, their tags, and each
    asset's row updated from its latest planned event (all a planned event changes there). A
    planned check over a range records one row per partition: the event is serialized once for all
    of them, not once per row. Schema checks that Dagster repeats per event (does a table, an
    asset-key column exist) are answered from memory once they have been seen to hold.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: tables and asset-key columns seen to exist (schema checks Dagster repeats on every event)
        self._present: set[tuple[str, str]] = set()

    def has_table(self, table_name: str) -> bool:
        """Whether ``table_name`` exists; a table once found is not looked up again (a migration adds
        tables, none removes them while the process runs), a missing one is checked each time."""
        if ("table", table_name) in self._present:
            return True
        found = super().has_table(table_name)
        if found:
            self._present.add(("table", table_name))
        return found

    def has_asset_key_col(self, column_name: str) -> bool:
        """Whether the asset-key table has ``column_name``; cached like :meth:`has_table`. Dagster asks
        this (a catalog inspection, several queries) for each asset event and asset-record read."""
        if ("asset_keys", column_name) in self._present:
            return True
        return super().has_asset_key_col(column_name)

    def _has_asset_key_col_on_connection(self, conn: Any, column_name: str) -> bool:
        if ("asset_keys", column_name) in self._present:
            return True
        found = super()._has_asset_key_col_on_connection(conn, column_name)
        if found:
            self._present.add(("asset_keys", column_name))
        return found

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        for planned, group in itertools.groupby(events, key=_is_planned_materialization):
            same_kind = list(group)
            if planned and len(same_kind) > 1:
                self._store_planned_batch(same_kind)
            else:
                super().store_event_batch(same_kind)

    def _store_planned_batch(self, events: list[EventLogEntry]) -> None:
        insert = self.prepare_insert_event_batch(events)
        with self._connect() as conn:
            event_ids = [int(row[0]) for row in conn.execute(insert.returning(SqlEventLogStorageTable.c.id))]
        latest = {}
        for event, event_id in zip(events, event_ids, strict=True):
            latest[event.get_dagster_event().asset_key] = (event, event_id)
        with self.index_transaction() as conn:
            self._store_asset_event_tags(conn, events, event_ids)
            for event, event_id in latest.values():
                self._store_asset_event(conn, event, event_id)

    def _store_asset_check_evaluation_planned(self, event: EventLogEntry, event_id: int | None) -> None:
        planned = event.get_dagster_event().asset_check_planned_data
        partition_keys = planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]
        row = {
            "asset_key": planned.asset_key.to_string(),
            "check_name": planned.check_name,
            "run_id": event.run_id,
            "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
            "evaluation_event": serialize_value(event),
            "evaluation_event_timestamp": self._event_insert_timestamp(event),
            "evaluation_event_storage_id": event_id,
        }
        with self.index_connection() as conn:
            conn.execute(AssetCheckExecutionsTable.insert().values([{**row, "partition": key} for key in partition_keys]))


class ProjectPostgresStorage(DagsterPostgresStorage):
    """dagster-postgres storage on the project's ``dagster`` database.

    Loading it migrates the ``dagster`` database. On the embedded default (no ``STOREML_PG_URL``,
    no ``STOREML_DAGSTER_DB_URL``) it migrates every database the embedded server holds, as
    ``storeml dev`` does (idempotent, locked, ~0.1 s when nothing is pending), so a plain
    ``dagster asset materialize`` on a fresh checkout finds its tables. Configured servers are
    migrated with ``storeml db migrate``.

    A run over a range of daily partitions records one planned and one materialization event per
    partition and asset (thousands for half a year). dagster-postgres opens a new connection per
    event by default; this storage keeps one per storage open (checked before reuse, so a restarted
    server costs one reconnect, not an error) and turns on Dagster's batched event writes.
    """

    def __init__(self, postgres_url: str, inst_data: Any = None) -> None:
        super().__init__(postgres_url=postgres_url, inst_data=inst_data)
        # the parent made the tables; this one writes planned events in batches too
        self._event_log_storage = ProjectEventLogStorage(postgres_url, should_autocreate_tables=False)
        self.hold_connections()

    def hold_connections(self) -> None:
        """Reuse connections instead of opening one per event (what dagster-webserver does for itself)."""
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            storage._engine = create_pg_engine(  # the engine each dagster-postgres storage queries through
                self.postgres_url,
                isolation_level="AUTOCOMMIT",
                pool_size=HELD_CONNECTIONS,
                max_overflow=10,
                pool_recycle=3600,
                pool_pre_ping=True,
            )

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
        os.environ.setdefault(EVENT_BATCH_SIZE_ENV, EVENT_BATCH_SIZE)
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
