"""`storeml demo`: migrate, simulate a storefront, then run the whole graph on it (:mod:`storeml_assets.runner`).

Every run goes through the project's Dagster instance (Postgres storage), so the runs, their
materializations and check results are visible in the UI afterwards (`storeml dev`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import dagster as dg
from rich.console import Console
from rich.table import Table

from storeml_assets.db.locator import connection, database_url
from storeml_assets.home_lock import home_lock
from storeml_assets.io.pg_tables import qualified
from storeml_assets.keys import (
    MARTS_JOB,
    MONITORING_JOB_NAME,
    PURCHASE_PROPENSITY,
    RETRAINING_JOB_NAME,
    RETRAINING_SENSOR_NAME,
    SIMULATE_JOB,
    STOREFRONT_KEY,
)
from storeml_assets.lifecycle.registry import GENERIC_FAMILIES
from storeml_assets.lifecycle.summary import family_lines
from storeml_assets.mlops import decisions_since, drift_since, model_versions_since
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.runner import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    SLOT_WAIT_SECONDS,
    BlockingCheckFailed,
    Runner,
    RunReport,
    stage_table_rows,
)
from storeml_assets.settings import Settings

__all__ = ["RANGE_END_TAG", "RANGE_START_TAG", "SLOT_WAIT_SECONDS", "BlockingCheckFailed", "Demo", "DemoReport",
           "print_summary"]

#: The demo's report is a run's report.
DemoReport = RunReport


class Demo(Runner):
    """Simulates a storefront, then runs the storeml graph on it end to end, with progress on a console."""

    command = "demo"

    def __init__(
        self, settings: Settings, console: Console, *, scale: str, drift: bool, seed: int, log_level: str = "WARNING"
    ) -> None:
        super().__init__(settings, console, log_level=log_level)
        self.scale = scale
        self.drift = drift
        self.seed = seed
        self._storefront_run_id: str | None = None

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

    def before_stage(self) -> None:
        self.check_storefront_is_ours()

    # -- the demo -----------------------------------------------------------------------
    def run(self) -> RunReport:
        """The whole demo, holding the data folder's lock (a second demo on this home refuses)."""
        with home_lock(self.settings.home, "demo"):
            return self._run()

    def _run(self) -> RunReport:
        from storeml_assets.synthetic.simulator import SimulationConfig

        self.prepare()
        with self.family_workers():  # they start now, importing while the storefront is simulated
            sim = SimulationConfig(seed=self.seed, scale=self.scale, drift=self.drift)
            with self.stage(f"simulate storefront ({self.scale}{', drift' if self.drift else ''})"):
                self.run_job(
                    SIMULATE_JOB,
                    run_config={"ops": {"simulated_storefront": {"config": {"scale": self.scale, "seed": self.seed, "drift": self.drift}}}},
                )
                self._storefront_run_id = self.report.runs[-1][1]
            self.run_stages(
                (sim.start_date, sim.end_date),
                before=sim.cutover if self.drift else None,
                ml_label="first model" if self.drift else "model",
            )
            if self.drift:
                with self.stage(f"drifted period: event partitions {sim.cutover} .. {sim.end_date}"):
                    self.check_storefront_is_ours()
                    self.run_events(sim.cutover, sim.end_date)
                with self.stage("marts after the drifted period"):
                    self.run_job(MARTS_JOB)
                self._drift_cycle()
        return self.report

    def _drift_cycle(self) -> None:
        with self.stage("monitoring after the drifted period (every family's drift)"):
            self.run_job(MONITORING_JOB_NAME)
        with self.stage("retraining sensors + triggered retrains"):
            sensors = [(RETRAINING_SENSOR_NAME, RETRAINING_JOB_NAME),
                       *((family.sensor_name, family.job_name) for family in GENERIC_FAMILIES)]
            for sensor_name, job_name in sensors:
                for request in self._evaluate_retraining_sensor(sensor_name):
                    self.console.print(f"  {sensor_name} fired: {request.tags.get('storeml/trigger', request.run_key)}")
                    self.run_job(job_name, tags=dict(request.tags))

    def _evaluate_retraining_sensor(self, name: str = RETRAINING_SENSOR_NAME) -> list[dg.RunRequest]:
        """One tick of a retraining sensor, as the daemon would run it, against this instance."""
        sensor = self.defs.resolve_sensor_def(name)
        with dg.build_sensor_context(instance=self.instance, resources=self.defs.resources, definitions=self.defs) as context:
            data = sensor.evaluate_tick(context)
        return list(data.run_requests or [])


# -- the summary ----------------------------------------------------------------------------
@dataclass(frozen=True)
class MlopsSummary:
    """What this demo wrote to the ``mlops`` tables (read through :mod:`storeml_assets.mlops`)."""

    models: list[dict[str, Any]]
    drift: dict[str, Any] | None
    decisions: list[dict[str, Any]]
    #: One line per family trained since then: version, headline metrics beside baselines and oracle, decision.
    family_lines: list[str] = field(default_factory=list)


def read_mlops_summary(since: datetime) -> MlopsSummary:
    """The model versions, newest drift share and decisions written at or after ``since``."""
    storeml_db = PostgresResource(database="storeml", application_name="storeml-demo")
    try:
        with storeml_db.connect() as conn:
            return MlopsSummary(
                models=model_versions_since(conn, since),
                drift=drift_since(conn, since, PURCHASE_PROPENSITY),
                decisions=decisions_since(conn, since),
                family_lines=[line.text() for line in family_lines(conn, None, since) if line.version is not None],
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
    if report.families:
        console.print(purposes_table(report))
    for line in written.family_lines:
        console.print(line, highlight=False)
    for reason in report.skipped:
        console.print(f"[yellow]skipped:[/] {reason}", highlight=False)
    stages = Table(title="wall time per stage", title_justify="left")
    stages.add_column("stage", ratio=1, overflow="fold")
    for column in ("seconds", "rows", "rows/s"):
        stages.add_column(column, justify="right", no_wrap=True)
    for row in stage_table_rows(report):
        stages.add_row(*row)
    stages.add_row("[bold]total[/]", f"[bold]{report.total_seconds:.1f}[/]", "", "")
    console.print(stages)


def purposes_table(report: RunReport) -> Table:
    """Which ML purposes this run served: each family trained, skipped (with the reason) or failed."""
    table = Table(title="ML purposes", title_justify="left")
    table.add_column("purpose")
    table.add_column("family")
    table.add_column("status", ratio=1, overflow="fold")
    colours = {"trained": "green", "skipped": "yellow", "failed": "red"}
    for outcome in report.families:
        reason = f": {outcome.reason}" if outcome.reason else ""
        table.add_row(outcome.purpose, outcome.family, f"[{colours[outcome.status]}]{outcome.status}[/]{reason}")
    return table


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

