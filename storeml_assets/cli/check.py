"""`storeml check`: run every asset check on the data as it stands, without materializing assets.

The checks of the code location's ``Definitions`` that are defined on their own
(``@asset_check`` / ``@multi_asset_check``) run in one in-process job whose selection is those
checks only, so no asset is materialized. Checks built into an asset's own step (``check_specs``
of an asset) can only run with that asset and are listed as ``not run``, as are checks whose step
was skipped because an upstream check step failed (``not run: upstream X failed``). The run is recorded in
the Dagster instance (``DAGSTER_HOME``) when one is configured, else in an ephemeral one.

Exit code: 1 when a blocking check failed or a check could not be evaluated (its step errored),
else 0. This is how CI runs the checks.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import dagster as dg
import typer

from storeml_assets.console import console
from storeml_assets.db.urls import redact

CHECK_JOB_NAME = "__storeml_check_job"

PASSED = "passed"
FAILED = "failed"
ERROR = "error"
NOT_RUN = "not run"


@dataclass(frozen=True)
class CheckVerdict:
    """One check's outcome."""

    asset: str
    check: str
    blocking: bool
    status: str  # passed | failed | error | not run
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def blocks(self) -> bool:
        """True when this verdict should fail the build."""
        return self.status == ERROR or (self.status == FAILED and self.blocking)


def _metadata_value(value: Any) -> Any:
    inner = getattr(value, "value", value)
    if isinstance(inner, int | float | str | bool | list | dict) or inner is None:
        return inner
    return str(inner)


def _root_error(error: Any) -> str:
    """The first line of the innermost cause of a step's error (the check's own exception), redacted."""
    if error is None:
        return "step failed"
    while getattr(error, "cause", None) is not None:
        error = error.cause
    lines = (error.message or "").strip().splitlines()
    return redact(lines[0] if lines else error.cls_name or "step failed")


def run_checks(defs: dg.Definitions, *, groups: Sequence[str] = (),
               instance: dg.DagsterInstance | None = None) -> list[CheckVerdict]:
    """Evaluate the standalone asset checks of ``defs`` (optionally only on assets in ``groups``)."""
    graph = defs.resolve_asset_graph()
    specs: dict[dg.AssetCheckKey, dg.AssetCheckSpec] = {}
    standalone: set[dg.AssetCheckKey] = set()
    step_of: dict[dg.AssetCheckKey, str] = {}
    for checks_def in defs.asset_checks or []:
        for spec in checks_def.check_specs:
            specs[spec.key] = spec
            standalone.add(spec.key)
            step_of[spec.key] = checks_def.node_def.name
    for assets_def in graph.assets_defs:
        for spec in assets_def.check_specs:
            specs.setdefault(spec.key, spec)

    def group_of(key: dg.AssetKey) -> str | None:
        return graph.get(key).group_name if graph.has(key) else None

    if groups:
        known = {group_of(k.asset_key) for k in specs}
        unknown = [g for g in groups if g not in known]
        if unknown:
            raise ValueError(f"no asset checks in group(s) {unknown}; groups with checks: "
                             f"{sorted(g for g in known if g)}")
        specs = {k: s for k, s in specs.items() if group_of(k.asset_key) in groups}

    selected = [k for k in specs if k in standalone]
    evaluations: dict[dg.AssetCheckKey, Any] = {}
    step_errors: dict[str, str] = {}
    warnings: list[str] = []  # a step logs why it did not evaluate a selected check
    if selected:
        job = dg.define_asset_job(CHECK_JOB_NAME, selection=dg.AssetSelection.checks(*selected))
        check_defs = dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
        owned = instance is None
        inst = instance or (dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral())
        try:
            result = check_defs.resolve_job_def(CHECK_JOB_NAME).execute_in_process(
                instance=inst, raise_on_error=False, tags={"storeml/job": "check"},
                # failures are reported per check below, not as stack traces on the console
                run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            )
            evaluations = {ev.asset_check_key: ev for ev in result.get_asset_check_evaluations()}
            for event in result.all_events:
                if event.is_step_failure and event.step_key:
                    step_errors[event.step_key] = _root_error(event.step_failure_data.error)
            warnings = [redact(entry.user_message) for entry in inst.all_logs(result.run_id)
                        if entry.level == logging.WARNING and entry.user_message]
        finally:
            if owned:
                inst.dispose()

    verdicts = []
    for key in sorted(specs, key=lambda k: (k.asset_key.to_user_string(), k.name)):
        spec = specs[key]
        asset = key.asset_key.to_user_string()
        if key not in standalone:
            verdicts.append(CheckVerdict(asset, key.name, spec.blocking, NOT_RUN,
                                         "runs only with its asset's materialization"))
            continue
        ev = evaluations.get(key)
        if ev is None:
            step = step_of[key]
            if step in step_errors:
                verdicts.append(CheckVerdict(asset, key.name, spec.blocking, ERROR, step_errors[step]))
            else:
                upstream = ", ".join(sorted(step_errors))
                told = [w[w.index("not run:"):] for w in warnings
                        if w.startswith(f"{key.name} on {'.'.join(key.asset_key.path)} not run:")]
                reason = (told[-1] if told else
                          f"not run: upstream {upstream} failed" if upstream else "not run: not evaluated")
                verdicts.append(CheckVerdict(asset, key.name, spec.blocking, NOT_RUN, reason))
            continue
        meta = {k: _metadata_value(v) for k, v in (ev.metadata or {}).items()}
        verdicts.append(CheckVerdict(asset, key.name, spec.blocking, PASSED if ev.passed else FAILED,
                                     str(meta.get("summary", "")), meta))
    return verdicts


def print_verdicts(verdicts: Sequence[CheckVerdict]) -> None:
    from rich.table import Table

    style = {PASSED: "green", FAILED: "red", ERROR: "bold red", NOT_RUN: "dim"}
    table = Table(title="asset checks", title_justify="left")
    for column in ("asset", "check", "blocking", "verdict", "detail"):
        table.add_column(column)
    for v in verdicts:
        verdict = v.status if v.status != FAILED or v.blocking else "failed (warn)"
        table.add_row(v.asset, v.check, "yes" if v.blocking else "no",
                      f"[{style[v.status]}]{verdict}[/]", v.description)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``storeml check`` to the command line."""

    @app.command()
    def check(
        group: list[str] = typer.Option([], "--group", "-g", help="Only checks on assets of this group (repeatable)."),
        as_json: bool = typer.Option(False, "--json", help="Print the verdicts as JSON."),
    ) -> None:
        """Run every asset check on the data as it stands (no materialization); exit 1 when a blocking check fails."""
        from storeml_assets.db.locator import connect, database_url
        from storeml_assets.definitions import build_definitions

        # every check reads the storeml database: an unreachable server is one line, not one error per check
        connect(database_url("storeml"), application_name="storeml-check").close()
        verdicts = run_checks(build_definitions(), groups=group)
        if as_json:
            typer.echo(json.dumps([{**asdict(v), "blocks": v.blocks} for v in verdicts], indent=2, default=str))
        else:
            print_verdicts(verdicts)
        counts = {s: sum(v.status == s for v in verdicts) for s in (PASSED, FAILED, ERROR, NOT_RUN)}
        blocking = [f"{v.asset}:{v.check}" for v in verdicts if v.blocks]
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        if blocking:
            if not as_json:
                console.print(f"[bold red]blocking check(s) failed[/]: {', '.join(blocking)} ({summary})",
                              highlight=False)
            raise typer.Exit(1)
        if not as_json:
            console.print(f"[bold green]no blocking check failed[/] ({summary})", highlight=False)
