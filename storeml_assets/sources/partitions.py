"""The span of the storefront's orders, read from its own database: where the daily partitions start in
external mode (unless ``STOREML_PARTITIONS_START`` is set) and where `storeml run` stops.

Read-only, one aggregate over ``orders`` (its event-time column), with short connect and statement
timeouts: the code location loads even when the storefront's database is down (the partitions then
start at the configured default, and the load logs why).
"""

from __future__ import annotations

import logging
from datetime import date

from psycopg2 import sql

from storeml_assets.db.locator import DatabaseUnreachableError, connect, database_url
from storeml_assets.db.urls import first_line
from storeml_assets.settings import Settings
from storeml_assets.sources.catalog import CATALOG

log = logging.getLogger("storeml.sources")
#: Longest the span query may run (an index on the event time answers it at once; a scan of a big table may not).
SPAN_TIMEOUT_MS = 60_000


def order_day_bounds(settings: Settings) -> tuple[date, date] | None:
    """The first and last day (in the day-boundary zone) of the storefront's orders; None when there are none.

    Raises nothing for a missing ``orders`` table or an unreachable database: it logs and answers None.
    """
    orders = CATALOG["orders"]
    assert orders.event_time is not None
    try:
        url = database_url(orders.database, settings, start=settings.source_mode == "synthetic")
        conn = connect(url, application_name="storeml-partitions", connect_timeout=10)
    except DatabaseUnreachableError as exc:
        log.warning("cannot read the span of the orders: %s", first_line(exc))
        return None
    try:
        with conn, conn.cursor() as cur:
            cur.execute("set transaction read only")
            cur.execute("select set_config('statement_timeout', %s, true)", (str(SPAN_TIMEOUT_MS),))
            cur.execute("select to_regclass(%s) is not null", (sql.Identifier(orders.name).as_string(cur),))
            exists = cur.fetchone()
            if not (exists and exists[0]):
                log.warning("the storefront has no %s table: the daily partitions keep their default start", orders.name)
                return None
            day = sql.SQL("(({col} at time zone %s)::date)").format(col=sql.Identifier(orders.event_time))
            cur.execute(
                sql.SQL("select min({day}), max({day}) from {table}").format(day=day, table=sql.Identifier(orders.name)),
                (settings.day_timezone, settings.day_timezone),
            )
            row = cur.fetchone()
    except Exception as exc:  # a timeout or an odd column type: the partitions keep their default start
        log.warning("cannot read the span of the orders: %s", first_line(exc))
        return None
    finally:
        conn.close()
    if not row or row[0] is None or row[1] is None:
        return None
    return row[0], row[1]


def data_partitions_start(settings: Settings) -> str:
    """The first daily partition: ``STOREML_PARTITIONS_START`` when set or in synthetic mode, else the first order's day."""
    if settings.source_mode != "external" or settings.partitions_start_set:
        return settings.partitions_start
    bounds = order_day_bounds(settings)
    if bounds is None:
        return settings.partitions_start
    return bounds[0].isoformat()
