"""`storeml doctor`: can storeml reach every source database, and which ML purposes does its data support?

Ready means every source database answers and the required tables (users, products, orders, order
items) hold their minimum rows. Every other purpose is listed as ready or skipped, with the reason a run
would give (``reviews has 0 rows < 200 (sentiment analysis needs reviews)``); a missing table is fine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg2 import sql

from storeml_assets.db.locator import DatabaseUnreachableError, connection, database_url
from storeml_assets.db.urls import host_of
from storeml_assets.settings import SOURCE_DATABASES, Settings, get_settings
from storeml_assets.sources.catalog import CATALOG, READINESS, REQUIRED_TABLES, min_rows_for, tables_in


@dataclass
class DatabaseReport:
    database: str
    host: str
    error: str | None = None
    #: table -> row count (None: the table is missing)
    tables: dict[str, int | None] = field(default_factory=dict)


@dataclass
class Readiness:
    """One row of "ML readiness": a purpose, a table it needs, that table's rows and the minimum."""

    table: str
    minimum: int
    purpose: str
    rows: int | None
    #: The model family (or ``bundle_rules``) this row is for; empty for a catalog purpose without one yet.
    family: str = ""
    #: What the reason ends with, in brackets (a family's own words); default "<purpose> needs <table>".
    needs: str = ""

    @property
    def ready(self) -> bool:
        return self.rows is not None and self.rows >= self.minimum

    @property
    def reason(self) -> str:
        """Why the purpose is skipped (``reviews has 0 rows < 200 (sentiment analysis needs reviews)``), or ''."""
        if self.ready:
            return ""
        needs = self.needs or f"{self.purpose} needs {self.table}"
        if self.rows is None:
            return f"{self.table} is missing ({needs})"
        return f"{self.table} has {self.rows:,} rows < {self.minimum:,} ({needs})"


@dataclass
class DoctorReport:
    databases: list[DatabaseReport]
    readiness: list[Readiness]
    #: The tables every storefront must have (:data:`~storeml_assets.sources.catalog.REQUIRED_TABLES`) and their rows.
    required: dict[str, int | None] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        """Every source database reachable and the required tables at their minimum (optional purposes may be
        skipped: :attr:`skipped` says which and why)."""
        minimum = {table: min_rows_for(CATALOG[table]) for table in REQUIRED_TABLES}
        return all(db.error is None for db in self.databases) and all(
            (rows or 0) >= minimum[table] for table, rows in self.required.items()
        )

    @property
    def skipped(self) -> list[Readiness]:
        return [row for row in self.readiness if not row.ready]


def readiness_rows(counts: dict[str, int | None]) -> list[Readiness]:
    """Which purposes the data supports: purchase propensity and bundle rules (the required tables), each
    generic family's ``requires``, then the catalog's other purposes no family covers yet."""
    from storeml_assets.lifecycle import registry

    rows = [
        Readiness(table, min_rows_for(CATALOG[table]), purpose, counts.get(table), family)
        for family, purpose, tables in (
            ("purchase_propensity", "purchase propensity", ("users", "orders", "order_items")),
            ("bundle_rules", "bundle rules", ("products", "orders", "order_items")),
        )
        for table in tables
    ]
    covered: set[str] = set()
    for family in getattr(registry, "GENERIC_FAMILIES", ()):
        for table, minimum in family.requires.items():
            if table not in CATALOG:  # a warehouse table: ready when its sources are
                continue
            rows.append(Readiness(table, minimum, family.purpose, counts.get(table), family.name, family.purpose))
            covered.add(table)
    rows += [Readiness(table, minimum, purpose, counts.get(table)) for table, minimum, purpose in READINESS
             if table not in covered and table not in REQUIRED_TABLES]
    return rows


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
    required = {table: counts.get(table) for table in REQUIRED_TABLES}
    return DoctorReport(reports, readiness_rows(counts), required)
