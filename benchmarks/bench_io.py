"""IO benchmark: PostgresIOManager vs raw ADBC COPY vs pandas to_sql/read_sql, in one run.

    python -m benchmarks.bench_io [--rows 1000000] [--sample-rows 100000] [--repeat 3]

Creates a temporary database on the storeml server (embedded by default, ``STOREML_PG_URL`` when
set), writes and reads a ``rows`` x 8 frame (ints, floats, text, timestamp, bool, date) through
each path, prints rows/s and the IO manager / raw ADBC ratios (target >= 0.8), then drops the
database. Each figure is the best of ``repeat`` rounds; the paths alternate inside a round so
that noise from other processes on the machine hits them alike.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import adbc_driver_postgresql.dbapi as adbc
import dagster as dg
import numpy as np
import pandas as pd
import polars as pl
import psycopg2
import pyarrow as pa
import sqlalchemy as sa
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from storeml_assets.db.admin import create_database, drop_database
from storeml_assets.db.locator import server_url
from storeml_assets.db.urls import redact, sqlalchemy_url
from storeml_assets.io import PostgresIOManager

TARGET_RATIO = 0.8
#: The path the target applies to: Arrow-native frames, as raw ADBC works on Arrow.
PRIMARY = "IO manager (polars)"


def make_frame(rows: int, seed: int = 7) -> pl.DataFrame:
    """``rows`` x 8 columns: 2 ints, 2 floats, text, timestamp, bool, date."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-01-01T00:00:00", "us")
    created = start + rng.integers(0, 365 * 86_400_000_000, rows).astype("timedelta64[us]")
    sku_ids = rng.integers(0, 50_000, rows)
    return pl.DataFrame(
        {
            "order_id": np.arange(rows, dtype=np.int64),
            "customer_id": rng.integers(1, 200_000, rows, dtype=np.int64),
            "amount": rng.gamma(2.0, 30.0, rows).round(2),
            "score": rng.random(rows),
            "sku": pl.Series(sku_ids).cast(pl.String).str.zfill(6),
            "created_at": created,
            "paid": rng.random(rows) < 0.9,
            "order_date": created.astype("datetime64[D]"),
        }
    ).with_columns(
        pl.col("order_date").cast(pl.Date), pl.concat_str([pl.lit("SKU-"), pl.col("sku")]).alias("sku")
    )


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    """Seconds spent in ``fn(*args)`` (arguments are built before the clock starts)."""
    started = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - started, value


# -- the paths -----------------------------------------------------------------------------------
def raw_adbc_write(url: str, table: pa.Table) -> None:
    with adbc.connect(url) as conn, conn.cursor() as cur:
        cur.adbc_ingest("raw_adbc", table, mode="replace", db_schema_name="bench")
        conn.commit()


def raw_adbc_read(url: str) -> pa.Table:
    with adbc.connect(url) as conn, conn.cursor() as cur:
        cur.execute('select * from "bench"."raw_adbc"')
        return cur.fetch_arrow_table()


def _frame_type(kind: str) -> dg.DagsterType:
    typing_type = pl.DataFrame if kind == "polars" else pd.DataFrame
    return dg.DagsterType(
        type_check_fn=lambda _ctx, _value: True, name=f"{kind}_frame", typing_type=typing_type
    )


def output_context(instance: dg.DagsterInstance, kind: str) -> dg.OutputContext:
    """Built outside the timed section: building a context is Dagster overhead, not IO."""
    return dg.build_output_context(
        asset_key=["bench", f"io_{kind}"], dagster_type=_frame_type(kind), instance=instance
    )


def input_context(instance: dg.DagsterInstance, kind: str) -> dg.InputContext:
    return dg.build_input_context(
        asset_key=["bench", f"io_{kind}"], dagster_type=_frame_type(kind), instance=instance
    )


def io_manager_write(io_manager: PostgresIOManager, context: dg.OutputContext, frame: Any) -> None:
    """The IO manager's real path: handle_output with an output context."""
    io_manager.handle_output(context, frame)


def io_manager_read(io_manager: PostgresIOManager, context: dg.InputContext) -> Any:
    return io_manager.load_input(context)


def to_sql_write(url: str, frame: pd.DataFrame) -> None:
    engine = sa.create_engine(sqlalchemy_url(url))
    try:
        frame.to_sql(
            "to_sql",
            engine,
            schema="bench",
            if_exists="replace",
            index=False,
            method="multi",
            chunksize=5_000,
        )
    finally:
        engine.dispose()


def read_sql_read(url: str) -> pd.DataFrame:
    engine = sa.create_engine(sqlalchemy_url(url))
    try:
        return pd.read_sql('select * from "bench"."to_sql"', engine)
    finally:
        engine.dispose()


# -- main ------------------------------------------------------------------------------------------
def run(rows: int, sample_rows: int, repeat: int, console: Console) -> dict[str, dict[str, float]]:
    server = server_url()
    name = f"bench_io_{uuid.uuid4().hex[:8]}"
    url = create_database(server, name)
    console.print(f"database {redact(url)}; {rows:,} rows x 8 columns; best of {repeat}")
    try:
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("create schema bench")
        frame_pl = make_frame(rows)
        arrow = frame_pl.to_arrow()
        frame_pd = frame_pl.to_pandas()
        io_manager = PostgresIOManager(url=url)
        arrow_strings = PostgresIOManager(url=url, pandas_arrow_strings=True)
        instance = dg.DagsterInstance.ephemeral()
        best: dict[str, dict[str, float]] = {}

        def record(path: str, op: str, seconds: float, n: int) -> None:
            slot = best.setdefault(path, {})
            slot[f"{op}_s"] = min(slot.get(f"{op}_s", float("inf")), seconds)
            slot[f"{op}_rows"] = n

        # warm-up (imports, first connections, catalog caches), not timed
        raw_adbc_write(url, arrow.slice(0, 1000))
        raw_adbc_read(url)
        for kind, frame in (("polars", frame_pl), ("pandas", frame_pd)):
            io_manager_write(io_manager, output_context(instance, kind), frame.head(1000))
            io_manager_read(io_manager, input_context(instance, kind))

        for round_no in range(1, repeat + 1):
            seconds, _ = _timed(raw_adbc_write, url, arrow)
            record("raw ADBC", "write", seconds, rows)
            for kind, frame in (("polars", frame_pl), ("pandas", frame_pd)):
                seconds, _ = _timed(io_manager_write, io_manager, output_context(instance, kind), frame)
                record(f"IO manager ({kind})", "write", seconds, rows)
            seconds, got = _timed(raw_adbc_read, url)
            assert got.num_rows == rows
            record("raw ADBC", "read", seconds, rows)
            for label, manager, kind in (
                ("IO manager (polars)", io_manager, "polars"),
                ("IO manager (pandas)", io_manager, "pandas"),
                ("IO manager (pandas, string[pyarrow])", arrow_strings, "pandas"),
            ):
                seconds, got = _timed(io_manager_read, manager, input_context(instance, kind))
                assert len(got) == rows
                record(label, "read", seconds, rows)
            console.print(f"round {round_no}/{repeat} done")

        sample = frame_pd.head(sample_rows)
        seconds, _ = _timed(to_sql_write, url, sample)
        record(f"pandas to_sql/read_sql ({len(sample):,} rows)", "write", seconds, len(sample))
        seconds, got = _timed(read_sql_read, url)
        assert len(got) == len(sample)
        record(f"pandas to_sql/read_sql ({len(sample):,} rows)", "read", seconds, len(sample))
        return best
    finally:
        drop_database(server, name)


def report(best: dict[str, dict[str, float]], console: Console) -> bool:
    raw = best["raw ADBC"]
    raw_write = raw["write_rows"] / raw["write_s"]
    raw_read = raw["read_rows"] / raw["read_s"]
    table = Table(title="Postgres IO: rows/s (best round) and ratio to raw ADBC")
    for column in ("path", "write rows/s", "write ratio", "read rows/s", "read ratio"):
        table.add_column(column, justify="left" if column == "path" else "right")
    ok = True
    for path, figures in best.items():
        write = figures["write_rows"] / figures["write_s"] if "write_s" in figures else float("nan")
        read = figures["read_rows"] / figures["read_s"]
        write_ratio, read_ratio = write / raw_write, read / raw_read
        if path == PRIMARY:
            ok = write_ratio >= TARGET_RATIO and read_ratio >= TARGET_RATIO

        def style(ratio: float, path: str = path) -> str:
            if ratio != ratio:
                return "-"
            if not path.startswith("IO manager"):
                return f"{ratio:.2f}x"
            colour = "green" if ratio >= TARGET_RATIO else "red"
            return f"[{colour}]{ratio:.2f}x[/{colour}]"

        write_text = f"{write:,.0f}" if write == write else "-"
        table.add_row(escape(path), write_text, style(write_ratio), f"{read:,.0f}", style(read_ratio))
    console.print(table)
    verdict = "[green]met[/green]" if ok else "[red]NOT met[/red]"
    console.print(f"target {PRIMARY} >= {TARGET_RATIO}x raw ADBC on write and read: {verdict}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_io", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows written and read per path")
    parser.add_argument("--sample-rows", type=int, default=100_000, help="rows for pandas to_sql/read_sql")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best round counts")
    parser.add_argument("--check", action="store_true", help="exit 1 when the 0.8x target is not met")
    args = parser.parse_args(argv)
    console = Console()
    started = dt.datetime.now()
    best = run(args.rows, min(args.sample_rows, args.rows), args.repeat, console)
    ok = report(best, console)
    console.print(f"took {(dt.datetime.now() - started).total_seconds():.0f}s")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
