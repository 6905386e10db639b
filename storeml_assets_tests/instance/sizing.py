"""Sizing figures for docs/scaling.md, measured on a real `storeml dev` (not a test).

    .venv/bin/python -m storeml_assets_tests.instance.sizing --scale tiny --days 7 30

Starts `storeml dev` on fresh databases (the test server: STOREML_TEST_PG_URL or the embedded one
on STOREML_TEST_PG_PORT), runs simulate_job and dimensions_job, then one events_job run per
partition range (a single run per range, as BackfillPolicy.single_run does for a backfill), and
prints each run's wall time and the peak resident memory of its run worker and step processes.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import psutil

from storeml_assets.db.embedded import EmbeddedPostgres
from storeml_assets_tests.conftest import PROJECT_ROOT
from storeml_assets_tests.ui.server import DevServer, running_storeml_dev, wait_for_run

LAST_DAY = date(2026, 10, 31)  # the simulator's default end_date


class PeakRss:
    """Samples the processes started after it (run workers, step subprocesses) in a process group."""

    def __init__(self, root_pid: int, interval: float = 0.25) -> None:
        self.root = psutil.Process(root_pid)
        self.baseline = {proc.pid for proc in self.root.children(recursive=True)} | {root_pid}
        self.interval = interval
        self.peak_total = 0
        self.peak_single = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = 0
            for proc in self.root.children(recursive=True):
                if proc.pid in self.baseline:
                    continue
                try:
                    rss = proc.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                self.peak_single = max(self.peak_single, rss)
            self.peak_total = max(self.peak_total, total)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed_run(server: DevServer, job: str, tags: dict[str, str] | None = None) -> tuple[float, PeakRss]:
    client = server.client()
    with PeakRss(server.process.pid) as rss:
        started = time.perf_counter()
        run_id = client.submit_job_execution(job, server.location, tags=tags)
        status = wait_for_run(client, run_id, timeout=3600)
        seconds = time.perf_counter() - started
    if status != "SUCCESS":
        raise RuntimeError(f"{job} ended {status}:\n{server.log_tail()}")
    return seconds, rss


def report(label: str, seconds: float, rss: PeakRss) -> None:
    mib = 1024 * 1024
    print(
        f"{label:<34} {seconds:8.1f} s   peak RSS all run processes {rss.peak_total / mib:7.0f} MiB"
        f"   largest process {rss.peak_single / mib:6.0f} MiB",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="tiny")
    parser.add_argument("--days", type=int, nargs="+", default=[7, 30])
    parser.add_argument(
        "--min-rows",
        default="orders=1,order_items=1,reviews=1,user_interactions=1,transactions=1,user_sessions=1",
        help="STOREML_MIN_ROWS for the run: a few days of a tiny storefront are below the catalog minimums.",
    )
    args = parser.parse_args()
    server_url = (
        os.environ.get("STOREML_TEST_PG_URL")
        or EmbeddedPostgres(
            PROJECT_ROOT / ".storeml" / "test-pg",
            int(os.environ.get("STOREML_TEST_PG_PORT", "54339")),
            durable=False,
        ).ensure_running()
    )
    print(f"scale {args.scale}, cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="storeml-sizing-") as workdir,
        running_storeml_dev(
            server_url, Path(workdir), STOREML_SCALE=args.scale, STOREML_AUTOMATION="false"
        ) as dev,
    ):
        report("simulate_job", *timed_run(dev, "simulate_job"))
        report("dimensions_job", *timed_run(dev, "dimensions_job"))
        for days in args.days:
            first = LAST_DAY - timedelta(days=days - 1)
            tags = {
                "dagster/asset_partition_range_start": first.isoformat(),
                "dagster/asset_partition_range_end": LAST_DAY.isoformat(),
            }
            report(f"events_job, {days} partitions, 1 run", *timed_run(dev, "events_job", tags))
        print(f"load average at the end {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
