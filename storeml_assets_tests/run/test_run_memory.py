"""A run executed by storeml run / demo frees each output once its IO manager has stored it.

Dagster's ``execute_in_process`` keeps every output value until the run ends (for ``output_for_node``);
a ranged events run then held every table it had written. :func:`execute_guarded` runs without that.
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

import dagster as dg

from storeml_assets.run_guard import execute_guarded


class Payload:
    """Stands for a large frame."""


class _Forgetful(dg.ConfigurableIOManager):
    """Stores nothing (as if written to Postgres); remembers a weak reference to what it was given."""

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if isinstance(obj, Payload):
            STORED.append(weakref.ref(obj))

    def load_input(self, context: dg.InputContext) -> Any:
        return None


STORED: list[weakref.ref[Payload]] = []


@dg.op
def produce() -> Payload:
    return Payload()


@dg.op
def later(upstream: Any) -> None:
    """Fails when the first step's output is still in memory by the time this step runs."""
    gc.collect()
    if any(ref() is not None for ref in STORED):
        raise AssertionError("the first step's output was still in memory when the next step ran")


@dg.job(resource_defs={"io_manager": _Forgetful()})
def two_steps() -> None:
    later(produce())


def test_a_stored_output_is_freed_before_the_next_step(project_instance: dg.DagsterInstance) -> None:
    STORED.clear()
    result = execute_guarded(two_steps, instance=project_instance, tags={"purpose": "test"})
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert len(STORED) == 1 and STORED[0]() is None
    record = project_instance.get_run_record_by_id(result.run_id)
    assert record is not None and record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
    assert record.dagster_run.tags.get("purpose") == "test"
    # Dagster's own execute_in_process keeps it (what execute_guarded avoids): the test can tell the two apart
    STORED.clear()
    kept = two_steps.execute_in_process(instance=project_instance, raise_on_error=False)
    assert not kept.success
