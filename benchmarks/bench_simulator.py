"""Simulator benchmark: generate a scale preset, then load it into a temporary database set.

    python -m benchmarks.bench_simulator [--scale large] [--seed 42] [--drift] [--keep]
        [--loads 1] [--parallel 2] [--swap-threshold 500000] [--chunk-rows 2000000] [--quiet]
        [--compare]

Creates the five source databases and a ``storeml`` database with unique names on the server
from ``STOREML_PG_URL`` (else the embedded server), migrates them, loads (``--loads`` times,
each replacing the last), prints per-table figures, totals and the load average, and drops
them afterwards (unless ``--keep``). ``--swap-threshold`` above the largest table turns the
staging-table path off (every table loads inside its database's transaction); ``--compare``
runs, in each of the ``--loads`` rounds, the configured loader and then that all-in-transaction
loader (the one before staging tables), so both are measured under the same machine load.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
import uuid

from storeml_assets.db.admin import drop_database
from storeml_assets.db.locator import server_url
from storeml_assets.db.migrate import migrate
from storeml_assets.db.urls import database_of, redact, with_database
from storeml_assets.settings import SOURCE_DATABASES, get_settings
from storeml_assets.synthetic.loader import load
from storeml_assets.synthetic.scales import SCALES
from storeml_assets.synthetic.simulator import SimulationConfig, simulate

BENCH_DATABASES = (*SOURCE_DATABASES, "storeml")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="large", choices=list(SCALES))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--drift", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary databases")
    parser.add_argument("--loads", type=int, default=1, help="load the generated data this many times")
    parser.add_argument("--parallel", type=int, nargs="+", default=[2],
                        help="loader threads (several values: one staging variant each)")
    parser.add_argument("--swap-threshold", type=int, default=500_000,
                        help="rows from which a table nothing references loads through a staging table")
    parser.add_argument("--chunk-rows", type=int, default=2_000_000, help="rows per staging COPY chunk")
    parser.add_argument("--quiet", action="store_true", help="totals only, no per-table lines")
    parser.add_argument("--timeline", action="store_true", help="print when each loader task ran")
    parser.add_argument("--compare", action="store_true",
                        help="also time the all-in-transaction loader (no staging tables) in each round")
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

        def show(name: str, rows: int, seconds: float) -> None:
            rate = rows / seconds if seconds > 0 else 0.0
            print(f"  {name:<44}{rows:>11,} rows {seconds:8.2f} s {rate:>12,.0f} rows/s")

        variants = {
            ("staging" if len(args.parallel) == 1 else f"staging/{n}"): (args.swap_threshold, n)
            for n in args.parallel
        }
        if args.compare:
            variants["in-transaction"] = (1 << 62, args.parallel[0])
        loads: dict[str, list[float]] = {name: [] for name in variants}
        for number in range(1, args.loads + 1):
            for name, (swap_threshold, parallel) in variants.items():
                load_before = os.getloadavg()[0]
                print(f"\nload {number} {name} (load average {load_before:.2f}):")
                report = load(data, settings, progress=None if args.quiet else show, parallel=parallel,
                              swap_threshold=swap_threshold, chunk_rows=args.chunk_rows)
                loads[name].append(report.seconds)
                if args.timeline and report.timeline:
                    origin = min(began for _, began, _ in report.timeline)
                    for where, began, ended in sorted(report.timeline, key=lambda t: t[1]):
                        print(f"  {began - origin:7.2f} .. {ended - origin:7.2f} s  {where}")
                print(f"  load {report.seconds:.2f} s ({report.rows:,} rows, {report.rows / report.seconds:,.0f}"
                      f" rows/s; swapped: {', '.join(report.swapped) or 'none'};"
                      f" load average {os.getloadavg()[0]:.2f})")
        print(f"\ntotals: generate {generate_s:.2f} s")
        for name, seconds in loads.items():
            print(f"  load {name:<16}{' / '.join(f'{s:.2f}' for s in seconds)} s (best {min(seconds):.2f} s)")
        if args.compare:
            for name in variants:
                if name != "in-transaction":
                    ratios = [b / a for a, b in zip(loads[name], loads["in-transaction"], strict=True)]
                    print(f"  in-transaction / {name}: {' / '.join(f'{r:.2f}x' for r in ratios)}")
    finally:
        if not args.keep:
            for url in urls.values():
                drop_database(server, database_of(url))


if __name__ == "__main__":
    main()
