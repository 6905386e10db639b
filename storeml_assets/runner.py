"""`storeml run`: materialize the graph (or a selection of it) on the configured sources, stage by stage.

The engine behind both `storeml run` and `storeml demo` (which simulates a storefront, then runs).
Every run goes through the project's Dagster instance (Postgres storage), so its runs, materializations
and check results are visible in the UI afterwards (`storeml dev`).

Stages, in order (each one Dagster run, each shown with its time, rows written and rows/s):

- ``sources``/``warehouse``: the dimension tables and dimensions, then every daily partition of the
  event tables with the sales facts, in one run (each table's slice is replaced in one transaction);
- ``bundles``: top products and bundle rules;
- ``models`` (features, models, promotion): the retraining job of every registered model family, several
  at once on a machine with more than one core (``STOREML_MODEL_PROCESSES``, see ``family_pool``). A
  family whose data is absent or too small skips itself with a reason; the others still train;
- ``monitoring``: drift and coverage.

A blocking check that fails stops the run with a non-zero exit; a skipped family does not.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
from rich.console import Console

from storeml_assets.db.locator import connection, database_url
from storeml_assets.db.migrate import migrate
from storeml_assets.home_lock import home_lock
from storeml_assets.instance import use_project_instance
from storeml_assets.io.pg_tables import qualified, quote
from storeml_assets.keys import (
    DIMENSIONS_JOB,
    EVENTS_JOB,
    MARTS_JOB,
    MONITORING_JOB_NAME,
)
from storeml_assets.recovery import process_tags, recover_orphaned_runs
from storeml_assets.run_guard import RunInterrupted, execute_guarded
from storeml_assets.settings import Settings

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
#: How long a run may wait for a concurrency-pool slot held by another run.
SLOT_WAIT_SECONDS = 600.0
#: The groups ``storeml run --select`` accepts, and the stage each one runs.
SELECTABLE_GROUPS: dict[str, str] = {
    "sources": "data",
    "warehouse": "data",
    "bundles": "marts",
    "features": "models",
    "models": "models",
    "promotion": "models",
    "monitoring": "monitoring",
}
#: Marker a model family's candidate logs when its data cannot support it (see ``lifecycle.generic.Skip``).
SKIPPED_MARKER = "skipped:"


class BlockingCheckFailed(RuntimeError):
    """A blocking asset check failed; the message names each failing check."""


@dataclass
class StageTime:
    """One stage of a run: its name, wall time and the rows its runs wrote."""

    name: str
    seconds: float
    rows: int = 0

    @property
    def rows_per_second(self) -> float | None:
        return self.rows / self.seconds if self.rows and self.seconds > 0 else None


@dataclass
class FamilyOutcome:
    """What the models stage did with one model family."""

    family: str
    purpose: str
    #: ``trained``, ``skipped`` or ``failed``
    status: str
    reason: str = ""


@dataclass
class RunReport:
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    stage_times: list[StageTime] = field(default_factory=list)
    runs: list[tuple[str, str, bool]] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    families: list[FamilyOutcome] = field(default_factory=list)
    #: Rows written per run id (sum of ``dagster/row_count`` of its materializations).
    rows_by_run: dict[str, int] = field(default_factory=dict)
    #: Purposes the extracted data cannot support, each with its reason (``reviews has 0 rows < 200 (...)``).
    skipped: list[str] = field(default_factory=list)

    @property
    def stages(self) -> list[tuple[str, float]]:
        return [(stage.name, stage.seconds) for stage in self.stage_times]

    @property
    def total_seconds(self) -> float:
        return sum(stage.seconds for stage in self.stage_times)


def parse_selection(raw: str | None) -> frozenset[str]:
    """``sources,bundles`` as the set of stages to run; None or empty: every stage."""
    if raw is None or not raw.strip():
        return frozenset(SELECTABLE_GROUPS.values())
    stages: set[str] = set()
    for name in filter(None, (part.strip().lower() for part in raw.split(","))):
        if name not in SELECTABLE_GROUPS:
            raise ValueError(f"--select names {name!r}, which is not one of {', '.join(SELECTABLE_GROUPS)}")
        stages.add(SELECTABLE_GROUPS[name])
    return frozenset(stages)


def registered_families() -> list[Any]:
    """Every registered model family: the classic ones, then the generic lifecycle's."""
    from storeml_assets.lifecycle import registry

    return [*registry.FAMILIES, *getattr(registry, "GENERIC_FAMILIES", ())]


def family_purpose(family: Any) -> str:
    """What a family is for (generic families declare it; purchase propensity predicts a purchase)."""
    return str(getattr(family, "purpose", "") or family.name.replace("_", " "))


class Runner:
    """Runs the storeml graph on the configured sources, stage by stage, with progress on a console."""

    #: Label of this command in run tags, locks and recovery messages.
    command = "run"

    def __init__(
        self,
        settings: Settings,
        console: Console,
        *,
        log_level: str = "WARNING",
        stages: frozenset[str] | None = None,
        start: date | None = None,
        end: date | None = None,
    ) -> None:
        self.settings = settings
        #: Dagster's console log level inside the runs (the full logs are in the UI either way)
        self.log_level = log_level
        self.console = console
        self.selected_stages = stages if stages is not None else frozenset(SELECTABLE_GROUPS.values())
        self.start = start
        self.end = end
        self.report = RunReport()
        self._defs: dg.Definitions | None = None
        self._instance: dg.DagsterInstance | None = None
        self._stage_rows = 0
        self.slot_wait_seconds = SLOT_WAIT_SECONDS
        #: Worker processes training model families beside this one (see :meth:`family_workers`).
        self._pool: Any = None
        #: Guards the report while worker results are merged from the pool's threads.
        self._lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------------------
    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        self._stage_rows = 0
        with self.console.status(f"[bold]{name}[/] ..."):
            yield
        seconds = time.perf_counter() - started
        stage = StageTime(name, seconds, self._stage_rows)
        self.report.stage_times.append(stage)
        rate = f", {stage.rows:,} rows, {stage.rows_per_second:,.0f} rows/s" if stage.rows_per_second else ""
        self.console.print(f"[green]✓[/] {name} [dim]({seconds:.1f}s{rate})[/]")

    def say(self, line: str) -> None:
        self.console.print(f"  {line}", highlight=False)

    @property
    def defs(self) -> dg.Definitions:
        if self._defs is None:
            from storeml_assets.definitions import build_definitions

            self._defs = build_definitions()
        return self._defs

    @property
    def has_instance(self) -> bool:
        """Whether this runner opened its Dagster instance yet."""
        return self._instance is not None

    @property
    def instance(self) -> dg.DagsterInstance:
        if self._instance is None:
            self._instance = dg.DagsterInstance.get()
        return self._instance

    def run_job(self, name: str, *, run_config: dict[str, Any] | None = None, tags: dict[str, str] | None = None) -> str | None:
        """One run of job ``name``, returning its run id; raises :class:`BlockingCheckFailed` or ``RuntimeError``
        when it fails."""
        job = self.defs.resolve_job_def(name)
        config = {"loggers": {"console": {"config": {"log_level": self.log_level}}}, **(run_config or {})}
        result = execute_guarded(
            job,
            instance=self.instance,
            run_config=config,
            tags={f"storeml/{self.command}": "true", **process_tags(self.settings.home), **(tags or {})},
            slot_wait_seconds=self.slot_wait_seconds,
            say=lambda line: self.console.print(f"  [yellow]{line}[/]", highlight=False),
        )
        failed = [
            f"{ev.asset_key.to_user_string()}:{ev.check_name}"
            for ev in result.get_asset_check_evaluations()
            if not ev.passed and ev.blocking
        ]
        self.record_runs([(name, result.run_id, result.success)], {result.run_id: rows_written(result)}, failed)
        if failed:
            raise BlockingCheckFailed(f"blocking check failed in {name}: {', '.join(failed)}")
        if not result.success:
            step_errors = [
                f"{ev.step_key}: {_root_error(ev.event_specific_data.error)}"  # type: ignore[union-attr]
                for ev in result.all_events
                if ev.event_type_value == "STEP_FAILURE" and ev.event_specific_data is not None
            ]
            raise RuntimeError(f"{name} failed (run {result.run_id}): " + "; ".join(step_errors or ["see the run in the UI"]))
        return result.run_id

    def record_runs(self, runs: list[tuple[str, str, bool]], rows_by_run: dict[str, int], failed_checks: list[str]) -> None:
        """Add runs (of this process or a family worker) to the report and the current stage's rows."""
        with self._lock:
            self.report.runs += runs
            self.report.rows_by_run.update(rows_by_run)
            self.report.failed_checks += failed_checks
            self._stage_rows += sum(rows_by_run.values())

    def run_events(self, start: date, end: date, *, before: date | None = None) -> None:
        """One events run over the daily partitions ``start .. end``; each table's slice is replaced in one
        transaction. ``before``: extract only the events before that day (the slice is still replaced)."""
        from storeml_assets.partitions import EVENTS_BEFORE_TAG

        tags = {RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat()}
        if before is not None:
            tags[EVENTS_BEFORE_TAG] = before.isoformat()
        self.run_job(EVENTS_JOB, tags=tags)

    def partition_bounds(self) -> tuple[date, date]:
        """The first and last daily partition that exist."""
        from storeml_assets.partitions import DAILY_PARTITIONS

        first_key, last_key = DAILY_PARTITIONS.get_first_partition_key(), DAILY_PARTITIONS.get_last_partition_key()
        if first_key is None or last_key is None:
            raise RuntimeError(f"no daily partitions: STOREML_PARTITIONS_START {DAILY_PARTITIONS.start:%Y-%m-%d} is in the future")
        return date.fromisoformat(first_key), date.fromisoformat(last_key)

    def rebuild_events(self, start: date, end: date, *, before: date | None = None) -> None:
        """Replace the event tables and facts with the storefront's ``start .. end``, in one run.

        The range is widened to every day the partitioned tables already hold, so each table is
        replaced as a whole in one transaction: the previous rows stay until the new ones are
        committed, and none of an earlier storefront's partitions survives beside the new ones.
        """
        first, last = self.held_days()
        first_key, last_key = self.partition_bounds()
        lo = max(min(start, first or start), first_key)
        hi = min(max(end, last or end), last_key)
        self.run_events(lo, hi, before=before)

    def held_days(self) -> tuple[date | None, date | None]:
        """First and last day held by any daily-partitioned table (None, None when they are empty)."""
        graph = self.defs.resolve_asset_graph()
        days: list[date] = []
        with connection(database_url("storeml"), application_name=f"storeml-{self.command}") as conn, conn.cursor() as cur:
            for key in sorted(graph.get_all_asset_keys()):
                node = graph.get(key)
                column = node.metadata.get("partition_expr")
                if node.partitions_def is None or not isinstance(column, str):
                    continue
                name = qualified(key.path[-2], key.path[-1])
                cur.execute("select to_regclass(%s) is not null", (name,))
                row = cur.fetchone()
                if not (row and row[0]):
                    continue
                cur.execute(f"select min({quote(column)})::date, max({quote(column)})::date from {name}")
                bounds = cur.fetchone()
                days += [d for d in (bounds or ()) if d is not None]
        return (min(days), max(days)) if days else (None, None)

    def recover(self) -> None:
        """Fail the runs a dead storeml process left STARTED in this home, and free their pool slots."""
        report = recover_orphaned_runs(self.instance, self.settings.home, by=f"storeml {self.command}")
        for line in report.lines():
            self.console.print(f"  [yellow]recovered:[/] {line}", highlight=False)

    def before_stage(self) -> None:
        """Called before every stage that reads the sources (the demo checks its storefront is still its own)."""

    # -- the run ------------------------------------------------------------------------
    def run(self) -> RunReport:
        """The whole run, holding the data folder's lock (a second run or demo on this home refuses)."""
        with home_lock(self.settings.home, self.command):
            self.prepare()
            with self.family_workers():
                self.run_stages(self.data_range())
            return self.report

    def prepare(self) -> None:
        with self.stage("migrate databases"):
            migrate(self.settings)
            use_project_instance(self.settings)
            self.recover()

    def data_range(self) -> tuple[date, date]:
        """The days to materialize: ``--from``/``--to``, else every daily partition up to the latest order."""
        first, last = self.partition_bounds()
        start = self.start or first
        end = self.end or min(last, latest_order_day(self.settings) or last)
        if end < start:
            raise ValueError(f"the range {start} .. {end} is empty: --to is before --from (or before the first partition)")
        return max(start, first), min(end, last)

    def run_stages(self, days: tuple[date, date], *, before: date | None = None, ml_label: str = "models") -> None:
        """Every selected stage over the daily partitions ``days``."""
        start, end = days
        if "data" in self.selected_stages:
            with self.stage("sources: dimension tables + customer, product, calendar dimensions"):
                self.before_stage()
                self.run_job(DIMENSIONS_JOB)
            shown_end = before.fromordinal(before.toordinal() - 1) if before else end
            with self.stage(f"sources: event partitions {start} .. {shown_end} + sales facts"):
                self.before_stage()
                if self.start or self.end:  # a range asked for: replace those days, keep the others
                    self.run_events(start, end, before=before)
                else:
                    self.rebuild_events(start, end, before=before)
            self.note_readiness()
        if "marts" in self.selected_stages:
            with self.stage("marts: top products, bundle rules"):
                self.before_stage()
                self.run_job(MARTS_JOB)
        if "models" in self.selected_stages:
            self.ml_stage(ml_label)
        if "monitoring" in self.selected_stages:
            with self.stage("monitoring: drift and coverage"):
                self.run_job(MONITORING_JOB_NAME)

    @contextmanager
    def family_workers(self) -> Iterator[None]:
        """Spawn the processes that train model families beside this one (when the models stage is selected
        and ``STOREML_MODEL_PROCESSES`` > 1), for the duration; they start now, importing the code location
        while the first stages run."""
        if "models" not in self.selected_stages or self.settings.model_processes < 2 or self._pool is not None:
            yield
            return
        from storeml_assets.family_pool import FamilyPool

        self._pool = FamilyPool(self.settings.model_processes - 1, command=self.command, log_level=self.log_level)
        try:
            yield
        finally:
            pool, self._pool = self._pool, None
            pool.close()

    def note_readiness(self) -> None:
        """Which purposes the extracted tables support (as `storeml doctor` judges the sources); says the skipped."""
        from storeml_assets.sources.doctor import readiness_rows

        rows = readiness_rows(raw_row_counts())
        self.report.skipped = list(dict.fromkeys(row.reason for row in rows if not row.ready))
        for reason in self.report.skipped:
            self.say(f"[yellow]skipped:[/] {reason}")

    def ml_stage(self, label: str) -> None:
        """The retraining job of every registered family; a skipped or failed family does not stop the others.

        A blocking check failing stops the run at once; a family that failed for another reason is
        reported and, once every family had its turn, fails the run.
        """
        families = registered_families()
        order = {family.name: index for index, family in enumerate(families)}
        first = len(self.report.families)

        def done(outcome: FamilyOutcome) -> None:
            with self._lock:
                self.report.families.append(outcome)
            self.say_family(outcome)

        processes = self._pool.processes if self._pool is not None else 1
        shown_processes = f", {processes} processes" if processes > 1 else ""
        with self.stage(f"{label}: features, training, six gates (every model family{shown_processes})"):
            self.before_stage()
            try:
                if self._pool is not None and processes > 1:
                    from storeml_assets.family_pool import FamilyResult, family_dependencies

                    self.prepare_tracking()

                    def merge(result: FamilyResult) -> None:
                        self.record_runs(result.runs, result.rows_by_run, result.failed_checks)

                    self._pool.train(self.longest_first(families), family_dependencies(self.defs, families),
                                     local=self.train_family, merge=merge, done=done)
                else:
                    for family in families:
                        done(self.train_family(family))
            finally:  # the summary lists the families in their registration order
                self.report.families[first:] = sorted(self.report.families[first:], key=lambda o: order[o.family])
        failures = [f"{o.family}: {o.reason}" for o in self.report.families[first:] if o.status == "failed"]
        if failures:
            raise RuntimeError("model families failed: " + "; ".join(failures))

    def prepare_tracking(self) -> None:
        """Create MLflow's tables and experiment before families train at once (two processes creating them
        together on a new database collide)."""
        tracking = (self.defs.resources or {}).get("mlflow")
        if tracking is not None:
            tracking.experiment_id()

    def longest_first(self, families: Sequence[Any]) -> list[Any]:
        """``families`` in the order to hand them to the processes: the one whose last successful run took longest
        first (a family never run yet goes first, in registration order), so the longest is not started last."""
        def last_seconds(family: Any) -> float:
            runs = self.instance.get_runs(
                dg.RunsFilter(job_name=family.job_name, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1)
            if not runs:
                return float("inf")
            stats = self.instance.get_run_stats(runs[0].run_id)
            return (stats.end_time or 0.0) - (stats.start_time or 0.0)

        seconds = {family.name: last_seconds(family) for family in families}
        return sorted(families, key=lambda family: -seconds[family.name])

    def say_family(self, outcome: FamilyOutcome) -> None:
        shown = {"trained": "[green]trained[/]", "skipped": "[yellow]skipped[/]", "failed": "[red]failed[/]"}
        reason = f": {outcome.reason}" if outcome.reason else ""
        self.say(f"{outcome.family} ({outcome.purpose}): {shown[outcome.status]}{reason}")

    def train_family(self, family: Any) -> FamilyOutcome:
        """Run a family's retraining job: trained, skipped (its data cannot support it) or failed.

        A blocking check failing or an interrupt is raised, not reported as the family's failure.
        """
        purpose = family_purpose(family)
        try:
            run_id = self.run_job(family.job_name)
        except (BlockingCheckFailed, RunInterrupted):
            raise
        except RuntimeError as exc:
            return FamilyOutcome(family.name, purpose, "failed", str(exc))
        if run_id is None:  # a subclass chose not to run it
            return FamilyOutcome(family.name, purpose, "skipped", "not run")
        reasons = skip_reasons(self.instance, run_id)
        if reasons:
            return FamilyOutcome(family.name, purpose, "skipped", "; ".join(reasons))
        return FamilyOutcome(family.name, purpose, "trained")


def rows_written(result: dg.ExecuteInProcessResult) -> int:
    """Rows the run's materializations wrote (their ``dagster/row_count``). A ranged run writes each asset's
    slice once and records it on every partition's materialization, so each asset counts once."""
    by_asset: dict[dg.AssetKey, int] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        value = materialization.metadata.get("dagster/row_count")
        if value is not None and isinstance(value.value, int):
            key = materialization.asset_key
            by_asset[key] = max(by_asset.get(key, 0), value.value)
    return sum(by_asset.values())


def raw_row_counts() -> dict[str, int | None]:
    """Rows of every extracted source table in ``raw`` (None: not extracted)."""
    from storeml_assets.sources.catalog import CATALOG

    counts: dict[str, int | None] = {}
    with connection(database_url("storeml"), application_name="storeml-run") as conn, conn.cursor() as cur:
        for name in CATALOG:
            cur.execute("select to_regclass(%s) is not null", (qualified("raw", name),))
            row = cur.fetchone()
            if not (row and row[0]):
                counts[name] = None
                continue
            cur.execute(f"select count(*) from {qualified('raw', name)}")
            found = cur.fetchone()
            counts[name] = int(found[0]) if found else 0
    return counts


def skip_reasons(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The "skipped: <reason>" lines a run logged (a model family whose data cannot support it)."""
    reasons: list[str] = []
    for entry in instance.all_logs(run_id):
        message = entry.user_message or ""
        if int(entry.level) >= logging.INFO and SKIPPED_MARKER in message:
            reason = message.split(SKIPPED_MARKER, 1)[1].strip()
            if reason and reason not in reasons:
                reasons.append(reason)
    return reasons


def latest_order_day(settings: Settings) -> date | None:
    """The day of the newest order in the storefront's database (None when it has none or no ``orders``)."""
    from storeml_assets.sources.partitions import order_day_bounds

    bounds = order_day_bounds(settings)
    return bounds[1] if bounds else None


def _root_error(error: Any) -> str:
    """First line of the innermost cause of a step's error (the database's message, not Dagster's wrapper)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    lines = (getattr(error, "message", "") or "").strip().splitlines()
    return lines[0] if lines else "see the run in the UI"


def stage_table_rows(report: RunReport) -> Sequence[tuple[str, str, str, str]]:
    """(stage, seconds, rows, rows/s) for the summary's stage table."""
    rows = []
    for stage in report.stage_times:
        rate = stage.rows_per_second
        rows.append((stage.name, f"{stage.seconds:.1f}", f"{stage.rows:,}" if stage.rows else "",
                     f"{rate:,.0f}" if rate else ""))
    return rows
