"""Pipeline benchmark: the whole graph (simulate, then run) per scale, beside the bare data movement.

    python -m benchmarks.bench_run [--scale small large] [--seed 42] [--model-processes 1 2] [--json PATH]

Each scale runs in its own child process (so its peak memory is its own) on the project's data
folder (``STOREML_HOME``): ``storeml demo``'s stages (simulate, then ``storeml run``'s dimensions,
event partitions + facts, marts, models, monitoring), each with its wall time, the rows it moved
and rows/s. In the same child, right after the pipeline, the baseline: every source table read
from its storefront database and written into a scratch schema of the storeml database with
plain ADBC (one ``select *``, one COPY, nothing else) -- the bare data movement the source
stages cannot beat. Reported: the source stages' time over that baseline's (the pipeline's
overhead factor), the whole run's time, and the peak resident memory of the process that ran
every job (Dagster runs execute in process) together with the model-family workers it started
(``STOREML_MODEL_PROCESSES``; summed at each sample), against the targets: ``large`` (a year, ~1M
orders) through ``storeml run`` in <= 10 minutes with peak <= 6 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

#: Targets of a year of the ``large`` storefront through ``storeml run``.
TARGET_RUN_SECONDS = 600.0
TARGET_PEAK_BYTES = 6 * 1024**3
BASELINE_SCHEMA = "bench_bare_copy"
DATA_STAGE_PREFIX = "sources:"


@dataclass
class Stage:
    name: str
    seconds: float
    rows: int = 0
    #: highest resident memory of the process sampled while the stage ran
    peak_rss_bytes: int = 0


class RssSampler(threading.Thread):
    """Samples the memory of this process and every process below it (the model-family workers and
    their pools) every ``interval`` seconds: ``(perf_counter, bytes)``.

    The sum over the tree at one instant: families trained side by side hold their data at once,
    so the peak that matters for sizing a machine is the tree's, not the largest process's.
    """

    def __init__(self, interval: float = 0.25) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop_event = threading.Event()

    @staticmethod
    def tree_pss() -> int:
        """Proportional set size (PSS) summed over the tree: a page shared by forks (statsforecast's
        worker pool) counts once in total, not once per process as resident sizes would."""
        import psutil

        me = psutil.Process()
        total = 0
        for process in [me, *me.children(recursive=True)]:
            try:
                if process.name().startswith("postgres"):  # a server started by this process is not its memory
                    continue
                total += process.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):  # ended between the listing and the read
                continue
        return total

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append((time.perf_counter(), self.tree_pss()))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def peak(self) -> int:
        return max((rss for _, rss in self.samples), default=0)

    def peak_between(self, start: float, end: float) -> int:
        return max((rss for at, rss in self.samples if start <= at <= end), default=0)


@dataclass
class ScaleResult:
    scale: str
    stages: list[Stage] = field(default_factory=list)
    #: rows of the source tables, and seconds to copy them with bare ADBC (read + COPY)
    baseline_rows: int = 0
    baseline_seconds: float = 0.0
    peak_rss_bytes: int = 0
    load_average: tuple[float, float, float] = (0.0, 0.0, 0.0)
    #: processes the models stage trained families in (``STOREML_MODEL_PROCESSES``)
    model_processes: int = 1
    #: why the pipeline stopped early (the stages before it are still reported), else empty
    error: str = ""

    @property
    def run_seconds(self) -> float:
        """The ``storeml run`` part: every stage but the simulation (and the migration before it)."""
        return sum(s.seconds for s in self.stages if not s.name.startswith(("simulate", "migrate")))

    @property
    def data_seconds(self) -> float:
        return sum(s.seconds for s in self.stages if s.name.startswith(DATA_STAGE_PREFIX))


# ---------------------------------------------------------------------------------------------
# the child: one scale
# ---------------------------------------------------------------------------------------------
def table_rows(url: str, schema: str, tables: list[str]) -> dict[str, int]:
    """Exact row counts of ``schema.<table>`` for the tables that exist."""
    from storeml_assets.db.locator import connection
    from storeml_assets.io.pg_tables import qualified

    counts: dict[str, int] = {}
    with connection(url, application_name="storeml-bench") as conn, conn.cursor() as cur:
        for name in tables:
            cur.execute("select to_regclass(%s) is not null", (qualified(schema, name),))
            row = cur.fetchone()
            if row and row[0]:
                cur.execute(f"select count(*) from {qualified(schema, name)}")
                found = cur.fetchone()
                counts[name] = int(found[0]) if found else 0
    return counts


def bare_copy(settings: Any) -> tuple[int, float]:
    """Copy every source table into a scratch schema of the storeml database with plain ADBC: (rows, seconds)."""
    from storeml_assets.db.locator import database_url
    from storeml_assets.io.pg_tables import adbc_connection, quote
    from storeml_assets.sources.catalog import CATALOG

    target = database_url("storeml", settings)
    rows, seconds = 0, 0.0
    with adbc_connection(target, application_name="storeml-bench") as dst:
        with dst.cursor() as cur:
            cur.execute(f"drop schema if exists {quote(BASELINE_SCHEMA)} cascade")
            cur.execute(f"create schema {quote(BASELINE_SCHEMA)}")
        dst.commit()
        try:
            for table in CATALOG.values():
                started = time.perf_counter()
                source = database_url(table.database, settings)
                with adbc_connection(source, application_name="storeml-bench") as src, src.cursor() as cur:
                    cur.execute(f"select * from {quote(table.name)}")
                    data = cur.fetch_arrow_table()
                with dst.cursor() as cur:
                    cur.adbc_ingest(table.name, data, mode="create", db_schema_name=BASELINE_SCHEMA)
                dst.commit()
                seconds += time.perf_counter() - started
                rows += data.num_rows
        finally:
            with dst.cursor() as cur:
                cur.execute(f"drop schema if exists {quote(BASELINE_SCHEMA)} cascade")
            dst.commit()
    return rows, seconds


def stage_rows(name: str, settings: Any) -> int:
    """Rows a data stage wrote: its raw tables and the warehouse tables built beside them."""
    from storeml_assets.db.locator import database_url
    from storeml_assets.sources.catalog import CATALOG

    url = database_url("storeml", settings)
    if name.startswith("sources: dimension"):
        raw = [t.name for t in CATALOG.values() if not t.partitioned]
        warehouse = ["customers", "products", "timeframe"]
    elif name.startswith("sources: event"):
        raw = [t.name for t in CATALOG.values() if t.partitioned]
        warehouse = ["transactions", "sales"]
    else:
        return 0
    return sum(table_rows(url, "raw", raw).values()) + sum(table_rows(url, "warehouse", warehouse).values())


def run_scale(scale: str, seed: int) -> ScaleResult:
    """The demo at ``scale`` (simulate, then run), then the bare copy, in this process."""
    import mlflow  # noqa: F401 - imported first so its own stderr output is routed like the CLI's
    from rich.console import Console

    from storeml_assets.console import configure_logging
    from storeml_assets.demo import Demo
    from storeml_assets.settings import get_settings

    settings = get_settings()
    configure_logging(settings.home / "logs", verbose=False)  # as `storeml demo`: library output to the log file
    demo = Demo(settings, Console(stderr=True), scale=scale, drift=False, seed=seed)
    result = ScaleResult(scale)
    sampler = RssSampler()
    sampler.start()
    started = time.perf_counter()
    try:
        demo.run()
    except Exception as exc:  # reported with the stages that finished, and the baseline still measured
        result.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        sampler.stop()
    # stages run back to back from the start: each one's window is its share of that time line
    at = started
    for stage in demo.report.stage_times:
        peak = sampler.peak_between(at, at + stage.seconds)
        at += stage.seconds
        result.stages.append(Stage(stage.name, round(stage.seconds, 2), stage_rows(stage.name, settings), peak))
    result.baseline_rows, seconds = bare_copy(settings)
    result.baseline_seconds = round(seconds, 2)
    # the sampled tree's peak (workers included), and never below the kernel's high-water mark of this
    # process alone (ru_maxrss, KiB on Linux), which catches a spike between two samples
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result.peak_rss_bytes = max(sampler.peak(), own)
    result.model_processes = settings.model_processes
    result.load_average = os.getloadavg()
    return result


# ---------------------------------------------------------------------------------------------
# the parent: every scale, one child each, then the report
# ---------------------------------------------------------------------------------------------
def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if rows and seconds > 0 else "-"


def report(result: ScaleResult) -> list[str]:
    lines = [f"== {result.scale} ({result.model_processes} model process{'es' if result.model_processes != 1 else ''}; "
             f"load average at the end {', '.join(f'{v:.1f}' for v in result.load_average)})"]
    lines.append(f"{'stage':<72} {'seconds':>8} {'rows':>12} {'rows/s':>11} {'peak GB':>8}")
    for stage in result.stages:
        lines.append(
            f"{stage.name[:72]:<72} {stage.seconds:>8.1f} {stage.rows:>12,} {_rate(stage.rows, stage.seconds):>11} "
            f"{stage.peak_rss_bytes / 1024**3:>8.2f}"
        )
    lines.append(
        f"{'bare ADBC copy of the source tables (baseline)':<72} {result.baseline_seconds:>8.1f} "
        f"{result.baseline_rows:>12,} {_rate(result.baseline_rows, result.baseline_seconds):>11}"
    )
    ratio = result.data_seconds / result.baseline_seconds if result.baseline_seconds else float("nan")
    lines.append(f"source stages / bare copy: {result.data_seconds:.1f} s / {result.baseline_seconds:.1f} s = {ratio:.1f}x")
    run_ok = "meets" if result.run_seconds <= TARGET_RUN_SECONDS else "misses"
    peak_ok = "meets" if result.peak_rss_bytes <= TARGET_PEAK_BYTES else "misses"
    lines.append(
        f"storeml run (every stage after the simulation): {result.run_seconds:.1f} s "
        f"({run_ok} the {TARGET_RUN_SECONDS:.0f} s target of large); whole demo "
        f"{sum(s.seconds for s in result.stages):.1f} s"
    )
    run_peak = max((s.peak_rss_bytes for s in result.stages if not s.name.startswith(("simulate", "migrate"))), default=0)
    lines.append(
        f"peak resident memory: {result.peak_rss_bytes / 1024**3:.2f} GB, the command and its workers together ({peak_ok} the 6 GB "
        f"target of large), {run_peak / 1024**3:.2f} GB sampled during the run's stages"
    )
    if result.error:
        lines.append(f"the pipeline stopped early: {result.error}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", nargs="+", default=["small", "large"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--model-processes", nargs="+", type=int, default=[], metavar="N",
                        help="run each scale once per count of model processes (STOREML_MODEL_PROCESSES; "
                             "default: the setting as configured)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asdict(run_scale(args.scale[0], args.seed))))
        return
    results = []
    counts: list[int | None] = list(args.model_processes) or [None]
    for scale, processes in [(scale, n) for scale in args.scale for n in counts]:
        started = time.perf_counter()
        env = dict(os.environ)
        if processes is not None:
            env["STOREML_MODEL_PROCESSES"] = str(processes)
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_run", "--child", "--scale", scale, "--seed", str(args.seed)],
            stdout=subprocess.PIPE, text=True, check=False, env=env,
        )
        if child.returncode != 0:
            raise SystemExit(f"bench_run: the {scale} run failed (exit {child.returncode}); its output is above")
        data = json.loads(child.stdout.strip().splitlines()[-1])
        result = ScaleResult(**{**data, "stages": [Stage(**s) for s in data["stages"]],
                                "load_average": tuple(data["load_average"])})
        results.append(result)
        print("\n".join(report(result)), f"\n(child wall time {time.perf_counter() - started:.1f} s)\n", flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump([asdict(r) for r in results], out, indent=2)


if __name__ == "__main__":
    main()
