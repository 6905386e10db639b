"""The query plans of a check: capture the SELECTs it runs, then EXPLAIN each on the same database.

A check that scales with the data is set-based: joins and anti-joins the planner can hash. A
``SubPlan`` in a plan is a subquery evaluated per outer row (over un-indexed raw tables, a scan
of the inner table per row), which is what these helpers let a test rule out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine


def plans_of(engine: Engine, run: Callable[[Connection], Any]) -> list[tuple[str, str]]:
    """``(statement, plan text)`` of every SELECT that ``run`` executes on a connection of ``engine``."""
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().lower().startswith("select") and " from " in statement.lower():
            statements.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        with engine.connect() as conn:
            run(conn)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    plans = []
    with engine.connect() as conn:
        for statement, parameters in statements:
            rows = conn.exec_driver_sql("explain " + statement, parameters).fetchall()
            plans.append((statement, "\n".join(str(row[0]) for row in rows)))
    return plans


def per_row_subqueries(plans: list[tuple[str, str]]) -> list[str]:
    """The statements whose plan evaluates a subquery per row (a ``SubPlan``), with that plan."""
    return [f"{statement}\n{plan}" for statement, plan in plans if "SubPlan" in plan]
