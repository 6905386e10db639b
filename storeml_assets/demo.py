"""`storeml demo`: migrate, simulate, materialize the whole graph, run every check, summarize.

Every run goes through the project's Dagster instance (Postgres storage), so the runs, their
materializations and check results are visible in the UI afterwards (`storeml dev`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
from rich.console import Console
from rich.table import Table

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
    RETRAINING_JOB_NAME,
    RETRAINING_SENSOR_NAME,
    SIMULATE_JOB,
    STOREFRONT_KEY,
)
from storeml_assets.mlops import decisions_since, drift_since, model_versions_since
from storeml_assets.partitions import DAILY_PARTITIONS, EVENTS_BEFORE_TAG
from storeml_assets.recovery import process_tags, recover_orphaned_runs
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.run_guard import execute_guarded
from storeml_assets.settings import Settings

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
#: How long a run of the demo may wait for a concurrency-pool slot held by another run.
SLOT_WAIT_SECONDS = 600.0


class BlockingCheckFailed(RuntimeError):
    """A blocking asset check failed; the message names each failing check."""


@dataclass
class DemoReport:
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    stages: list[tuple[str, float]] = field(default_factory=list)
    runs: list[tuple[str, str, bool]] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        return sum(seconds for _, seconds in self.stages)


class Demo:
    """Runs the storeml graph end to end, stage by stage, with progress on a console."""

    def __init__(
        self, settings: Settings, console: Console, *, scale: str, drift: bool, seed: int, log_level: str = "WARNING"
    ) -> None:
        self.settings = settings
        #: Dagster's console log level inside the runs (the full logs are in the UI either way)
        self.log_level = log_level
        self.console = console
        self.scale = scale
        self.drift = drift
        self.seed = seed
        self.report = DemoReport()
        self._defs: dg.Definitions | None = None
        self._instance: dg.DagsterInstance | None = None
        self._storefront_run_id: str | None = None
        self.slot_wait_seconds = SLOT_WAIT_SECONDS

    # -- plumbing -----------------------------------------------------------------------
    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        with self.console.status(f"[bold]{name}[/] ..."):
            yield
        seconds = time.perf_counter() - started
        self.report.stages.append((name, seconds))
        self.console.print(f"[green]✓[/] {name} [dim]({seconds:.1f}s)[/]")

    @property
    def defs(self) -> dg.Definitions:
        if self._defs is None:
            from storeml_assets.definitions import build_definitions

            self._defs = build_definitions()
        return self._defs

    @property
    def instance(self) -> dg.DagsterInstance:
        if self._instance is None:
            self._instance = dg.DagsterInstance.get()
        return self._instance

    def run_job(self, name: str, *, run_config: dict[str, Any] | None = None, tags: dict[str, str] | None = None) -> None:
        job = self.defs.resolve_job_def(name)
        config = {"loggers": {"console": {"config": {"log_level": self.log_level}}}, **(run_config or {})}
        result = execute_guarded(
            job,
            instance=self.instance,
            run_config=config,
            tags={"storeml/demo": "true", **process_tags(self.settings.home), **(tags or {})},
            slot_wait_seconds=self.slot_wait_seconds,
            say=lambda line: self.console.print(f"  [yellow]{line}[/]", highlight=False),
        )
        failed = [
            f"{ev.asset_key.to_user_string()}:{ev.check_name}"
            for ev in result.get_asset_check_evaluations()
            if not ev.passed and ev.blocking
        ]
        self.report.runs.append((name, result.run_id, result.success))
        if failed:
            self.report.failed_checks += failed
            raise BlockingCheckFailed(f"blocking check failed in {name}: {', '.join(failed)}")
        if not result.success:
            step_errors = [
                f"{ev.step_key}: {_root_error(ev.event_specific_data.error)}"  # type: ignore[union-attr]
                for ev in result.all_events
                if ev.event_type_value == "STEP_FAILURE" and ev.event_specific_data is not None
            ]
            raise RuntimeError(f"{name} failed (run {result.run_id}): " + "; ".join(step_errors or ["see the run in the UI"]))

    def run_events(self, start: date, end: date, *, before: date | None = None) -> None:
        """One events run over the daily partitions ``start .. end``; each table's slice is replaced in one
        transaction. ``before``: extract only the events before that day (the slice is still replaced)."""
        tags = {RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat()}
        if before is not None:
            tags[EVENTS_BEFORE_TAG] = before.isoformat()
        self.run_job(EVENTS_JOB, tags=tags)

    def rebuild_events(self, start: date, end: date, *, before: date | None = None) -> None:
        """Replace the event tables and facts with the new storefront's ``start .. end``, in one run.

        The range is widened to every day the partitioned tables already hold, so each table is
        replaced as a whole in one transaction: the previous storefront's rows stay until the new
        ones are committed, and none of its partitions (another scale, seed or history) survives
        beside the new ones.
        """
        first, last = self.held_days()
        first_key, last_key = DAILY_PARTITIONS.get_first_partition_key(), DAILY_PARTITIONS.get_last_partition_key()
        if first_key is None or last_key is None:
            raise RuntimeError(f"no daily partitions: STOREML_PARTITIONS_START {DAILY_PARTITIONS.start:%Y-%m-%d} is in the future")
        lo = max(min(start, first or start), date.fromisoformat(first_key))
        hi = min(max(end, last or end), date.fromisoformat(last_key))
        self.run_events(lo, hi, before=before)

    def held_days(self) -> tuple[date | None, date | None]:
        """First and last day held by any daily-partitioned table (None, None when they are empty)."""
        graph = self.defs.resolve_asset_graph()
        days: list[date] = []
        with connection(database_url("storeml"), application_name="storeml-demo") as conn, conn.cursor() as cur:
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
        report = recover_orphaned_runs(self.instance, self.settings.home, by="storeml demo")
        for line in report.lines():
            self.console.print(f"  [yellow]recovered:[/] {line}", highlight=False)

    def check_storefront_is_ours(self) -> None:
        """Refuse to go on when another run re-simulated the storefront after this demo's simulation."""
        if self._storefront_run_id is None:
            return
        latest = self.instance.get_latest_materialization_event(STOREFRONT_KEY)
        if latest is not None and latest.run_id != self._storefront_run_id:
            materialization = latest.asset_materialization
            seed = materialization.metadata.get("seed") if materialization else None
            shown = f" (seed {seed.value})" if seed is not None else ""
            raise RuntimeError(
                f"the storefront was re-simulated by run {latest.run_id}{shown} while this demo (seed {self.seed}) "
                "ran; refusing to build and train on another storefront's data: run the demo again"
            )

    # -- the demo -----------------------------------------------------------------------
    def run(self) -> DemoReport:
        """The whole demo, holding the data folder's lock (a second demo on this home refuses)."""
        with home_lock(self.settings.home, "demo"):
            return self._run()

    def _run(self) -> DemoReport:
        from storeml_assets.synthetic.simulator import SimulationConfig

        with self.stage("migrate databases"):
            migrate(self.settings)
            use_project_instance(self.settings)
            self.recover()
        sim = SimulationConfig(seed=self.seed, scale=self.scale, drift=self.drift)
        first_end = sim.cutover - timedelta(days=1) if self.drift else sim.end_date
        with self.stage(f"simulate storefront ({self.scale}{', drift' if self.drift else ''})"):
            self.run_job(
                SIMULATE_JOB,
                run_config={"ops": {"simulated_storefront": {"config": {"scale": self.scale, "seed": self.seed, "drift": self.drift}}}},
            )
            self._storefront_run_id = self.report.runs[-1][1]
        with self.stage("sources: dimension tables + customer, product, calendar dimensions"):
            self.check_storefront_is_ours()
            self.run_job(DIMENSIONS_JOB)
        with self.stage(f"sources: event partitions {sim.start_date} .. {first_end} + sales facts"):
            self.check_storefront_is_ours()
            self.rebuild_events(sim.start_date, sim.end_date, before=sim.cutover if self.drift else None)
        with self.stage("marts: top products, bundle rules"):
            self.check_storefront_is_ours()
            self.run_job(MARTS_JOB)
        self._ml_cycle("first model" if self.drift else "model")
        if self.drift:
            with self.stage(f"drifted period: event partitions {sim.cutover} .. {sim.end_date}"):
                self.check_storefront_is_ours()
                self.run_events(sim.cutover, sim.end_date)
            with self.stage("marts after the drifted period"):
                self.run_job(MARTS_JOB)
            self._drift_cycle()
        return self.report

    def _ml_cycle(self, label: str) -> None:
        with self.stage(f"{label}: features, training, six gates"):
            self.check_storefront_is_ours()
            self.run_job(RETRAINING_JOB_NAME)
        with self.stage("monitoring: drift and coverage"):
            self.run_job(MONITORING_JOB_NAME)

    def _drift_cycle(self) -> None:
        with self.stage("monitoring after the drifted period"):
            self.run_job(MONITORING_JOB_NAME)
        with self.stage("retraining sensor + triggered retrain"):
            for request in self._evaluate_retraining_sensor():
                self.console.print(f"  sensor fired: {request.tags.get('storeml/trigger', request.run_key)}")
                self.run_job(RETRAINING_JOB_NAME, tags=dict(request.tags))

    def _evaluate_retraining_sensor(self) -> list[dg.RunRequest]:
        """One tick of the retraining sensor, as the daemon would run it, against this instance."""
        sensor = self.defs.resolve_sensor_def(RETRAINING_SENSOR_NAME)
        with dg.build_sensor_context(instance=self.instance, resources=self.defs.resources, definitions=self.defs) as context:
            data = sensor.evaluate_tick(context)
        return list(data.run_requests or [])


def _root_error(error: Any) -> str:
    """First line of the innermost cause of a step's error (the database's message, not Dagster's wrapper)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    lines = (getattr(error, "message", "") or "").strip().splitlines()
    return lines[0] if lines else "see the run in the UI"


# -- the summary ----------------------------------------------------------------------------
@dataclass(frozen=True)
class MlopsSummary:
    """What this demo wrote to the ``mlops`` tables (read through :mod:`storeml_assets.mlops`)."""

    models: list[dict[str, Any]]
    drift: dict[str, Any] | None
    decisions: list[dict[str, Any]]


def read_mlops_summary(since: datetime) -> MlopsSummary:
    """The model versions, newest drift share and decisions written at or after ``since``."""
    storeml_db = PostgresResource(database="storeml", application_name="storeml-demo")
    try:
        with storeml_db.connect() as conn:
            return MlopsSummary(
                models=model_versions_since(conn, since),
                drift=drift_since(conn, since),
                decisions=decisions_since(conn, since),
            )
    finally:
        storeml_db.dispose()


def print_summary(console: Console, report: DemoReport) -> None:
    """Tables, top rules, models, drift, decisions and stage times."""
    written = read_mlops_summary(report.started_at)
    with connection(database_url("storeml"), application_name="storeml-demo") as conn, conn.cursor() as cur:

        def rows(query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
            cur.execute(query, params)
            return list(cur.fetchall())

        _print_summary(console, report, rows, written)


def _print_summary(
    console: Console, report: DemoReport, _rows: Callable[..., list[tuple[Any, ...]]], written: MlopsSummary
) -> None:
    tables = Table(title="tables", title_justify="left")
    tables.add_column("table")
    tables.add_column("rows", justify="right")
    for schema, name in _rows(
        "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where c.relkind in ('r', 'p') and n.nspname in ('raw', 'warehouse', 'features', 'ground_truth') "
        "order by 1, 2"
    ):
        exact = _rows(f"select count(*) from {qualified(schema, name)}")[0][0]
        tables.add_row(f"{schema}.{name}", f"{exact:,}")
    console.print(tables)

    if _rows("select to_regclass('warehouse.bundle_rules') is not null")[0][0]:
        rules = Table(title="top bundle rules by lift", title_justify="left")
        for column in ("antecedents", "consequents"):  # product names wrap; the figures never do
            rules.add_column(column, ratio=1, overflow="fold")
        for column in ("support", "confidence", "lift"):
            rules.add_column(column, no_wrap=True, justify="right")
        for lhs, rhs, support, confidence, lift in _rows(
            "select antecedent_names, consequent_names, support, confidence, lift from warehouse.bundle_rules "
            "order by lift desc limit 5"
        ):
            rules.add_row(" + ".join(lhs or []), " + ".join(rhs or []), f"{support:.4f}", f"{confidence:.3f}", f"{lift:.1f}")
        console.print(rules)

    if written.models:
        columns = ("model_version", "status", "f1_score", "brier_score", "roc_auc", "model_roc_auc",
                   "oracle_roc_auc", "oracle_ratio")
        console.print(model_table([tuple(row[c] for c in columns) for row in written.models]))
    if written.drift:
        console.print(drift_line(written.drift["metric_value"], written.drift["metadata"]))
    for decision in written.decisions:
        action, reasoning, gates = decision["action"], decision["reasoning"], decision["gate_results"]
        colour = "green" if action == "promote" else "red"
        console.print(f"decision: [bold {colour}]{action}[/] — {reasoning}")
        items = gates.items() if isinstance(gates, dict) else [(g.get("name"), g) for g in gates]
        for name, gate in items:
            mark = "[green]pass[/]" if gate.get("passed") else "[red]fail[/]"
            console.print(f"   {mark} {name}: {gate.get('reason', '')}")
    stages = Table(title="wall time per stage", title_justify="left")
    stages.add_column("stage")
    stages.add_column("seconds", justify="right")
    for name, seconds in report.stages:
        stages.add_row(name, f"{seconds:.1f}")
    stages.add_row("[bold]total[/]", f"[bold]{report.total_seconds:.1f}[/]")
    console.print(stages)


#: The model table's headers, each at most 8 characters wide so the table reads in 80 columns.
MODEL_COLUMNS = ("version", "status", "F1", "Brier", "AUC\nholdout", "AUC vs\noutcomes", "oracle\nAUC",
                 "model /\noracle")


def model_table(models: list[tuple[Any, ...]]) -> Table:
    """The demo's model versions: (version, status, F1, Brier, AUC, AUC vs outcomes, oracle AUC, ratio) rows."""
    table = Table(
        title="model versions trained by this demo", title_justify="left", pad_edge=False,
        caption="AUC = ROC-AUC; holdout: the time-split test set; vs outcomes: against the simulated "
                "purchases; oracle: the simulator's true propensity",
        caption_justify="left",
    )
    for column in MODEL_COLUMNS:
        table.add_column(column, no_wrap=True, justify="left" if column in ("version", "status") else "right")
    for version, status, f1, brier, auc, model_auc, oracle, ratio in models:
        table.add_row(str(version), status, _f(f1), _f(brier), _f(auc), _f(model_auc), _f(oracle), _f(ratio))
    return table


def drift_line(share: float | None, metadata: dict[str, Any] | None) -> str:
    """The demo's one drift figure and what it compares, from the latest ``drift_share`` row."""
    meta = metadata or {}
    compared = meta.get("compared") or "feature drift"
    if share is None:
        return f"drift: [bold]{meta.get('verdict') or 'not judged'}[/], {compared}"
    drifted = list(meta.get("drifted_columns") or [])
    count, total = meta.get("drifted_count", len(drifted)), meta.get("column_count", "?")
    names = f": {', '.join(drifted)}" if drifted else ""
    return f"drift share [bold]{share:.2f}[/] ({count} of {total} columns{names}), {compared}"


def _f(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"

