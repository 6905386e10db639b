"""`storeml doctor`: can storeml reach every source database, and is there enough data for ML?"""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg2 import sql

from storeml_assets.db.locator import DatabaseUnreachableError, connection, database_url
from storeml_assets.db.urls import host_of
from storeml_assets.settings import SOURCE_DATABASES, Settings, get_settings
from storeml_assets.sources.catalog import READINESS, tables_in


@dataclass
class DatabaseReport:
    database: str
    host: str
    error: str | None = None
    #: table -> row count (None: the table is missing)
    tables: dict[str, int | None] = field(default_factory=dict)


@dataclass
class Readiness:
    table: str
    minimum: int
    purpose: str
    rows: int | None

    @property
    def ready(self) -> bool:
        return self.rows is not None and self.rows >= self.minimum


@dataclass
class DoctorReport:
    databases: list[DatabaseReport]
    readiness: list[Readiness]

    @property
    def ready(self) -> bool:
        return all(db.error is None for db in self.databases) and all(r.ready for r in self.readiness)


def examine(settings: Settings | None = None) -> DoctorReport:
    """Connect to every source database and count the rows of each catalog table."""
    settings = settings or get_settings()
    reports: list[DatabaseReport] = []
    counts: dict[str, int | None] = {}
    for database in SOURCE_DATABASES:
        url = database_url(database, settings)
        report = DatabaseReport(database, host_of(url))
        try:
            with connection(url, application_name="storeml-doctor") as conn, conn.cursor() as cur:
                cur.execute("set transaction read only")
                for table in tables_in(database):
                    cur.execute("select to_regclass(%s) is not null", (sql.Identifier(table.name).as_string(cur),))
                    exists = cur.fetchone()
                    if not (exists and exists[0]):
                        report.tables[table.name] = None
                        continue
                    cur.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(table.name)))
                    row = cur.fetchone()
                    report.tables[table.name] = int(row[0]) if row else 0
        except DatabaseUnreachableError as exc:
            report.error = str(exc)
        counts.update(report.tables)
        reports.append(report)
    readiness = [Readiness(table, minimum, purpose, counts.get(table)) for table, minimum, purpose in READINESS]
    return DoctorReport(reports, readiness)
