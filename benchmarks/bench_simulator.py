"""Simulator benchmark: generate a scale preset, then load it into a temporary database set.

    python -m benchmarks.bench_simulator [--scale large] [--seed 42] [--drift] [--keep]

Creates the five source databases and a ``storeml`` database with unique names on the server
from ``STOREML_PG_URL`` (else the embedded server), migrates them, loads, prints per-table
figures and totals, and drops them afterwards (unless ``--keep``).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import uuid

import psycopg2
from psycopg2 import sql

from storeml_assets.db.locator import server_url
from storeml_assets.db.migrate import migrate
from storeml_assets.db.urls import redact, with_database
from storeml_assets.settings import SOURCE_DATABASES, get_settings
from storeml_assets.synthetic.loader import load
from storeml_assets.synthetic.scales import SCALES
from storeml_assets.synthetic.simulator import SimulationConfig, simulate

BENCH_DATABASES = (*SOURCE_DATABASES, "storeml")


def _admin(server: str, statement: sql.Composable) -> None:
    conn = psycopg2.connect(with_database(server, "postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="large", choices=list(SCALES))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--drift", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary databases")
    args = parser.parse_args(argv)

    base = get_settings()
    server = server_url(base)
    suffix = uuid.uuid4().hex[:8]
    urls = {db: with_database(server, f"bench_{db}_{suffix}") for db in BENCH_DATABASES}
    settings = dataclasses.replace(base, database_urls={**base.database_urls, **urls})
    print(f"server {redact(server)}; databases *_{suffix}")
    try:
        migrate(settings, databases=BENCH_DATABASES)

        started = time.perf_counter()
        data = simulate(SimulationConfig(seed=args.seed, scale=args.scale, drift=args.drift))
        generate_s = time.perf_counter() - started
        print(f"\ngenerate ({args.scale}): {generate_s:.2f} s")
        for step, seconds in data.timings.items():
            if step != "total":
                print(f"  {step:<24}{seconds:8.2f} s")

        print("\nload:")

        def show(name: str, rows: int, seconds: float) -> None:
            rate = rows / seconds if seconds > 0 else 0.0
            print(f"  {name:<44}{rows:>11,} rows {seconds:8.2f} s {rate:>12,.0f} rows/s")

        report = load(data, settings, progress=show)
        print(f"\ntotals: generate {generate_s:.2f} s, load {report.seconds:.2f} s "
              f"({report.rows:,} rows, {report.rows / report.seconds:,.0f} rows/s)")
    finally:
        if not args.keep:
            for url in urls.values():
                name = url.rsplit("/", 1)[1]
                _admin(server, sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
