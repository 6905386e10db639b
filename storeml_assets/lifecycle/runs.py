"""What earlier steps of a run recorded: the materialization metadata a later lifecycle step reads."""

from typing import Any

import dagster as dg


def lineage(run: dg.DagsterRun) -> list[str]:
    """The run and the runs it re-executes (a retry's parent and root), nearest first."""
    ids = [run.run_id, run.parent_run_id, run.root_run_id]
    return [i for n, i in enumerate(ids) if i and i not in ids[:n]]


def materialization_metadata(
    instance: dg.DagsterInstance, key: dg.AssetKey, run: dg.DagsterRun, *, fallback_to_latest: bool = True
) -> tuple[dict[str, Any], str] | None:
    """Metadata values of ``key``'s materialization in ``run`` (or in the run it re-executes), and the
    run id it came from; without one there, the newest materialization of ``key`` when
    ``fallback_to_latest``; None when there is none."""
    records = instance.fetch_materializations(key, limit=100).records
    for run_id in lineage(run):
        mine = [r for r in records if r.run_id == run_id and r.asset_materialization is not None]
        if mine:
            return _metadata_values(mine[0]), run_id
    if not fallback_to_latest:
        return None
    latest = next((r for r in records if r.asset_materialization is not None), None)
    return None if latest is None else (_metadata_values(latest), latest.run_id)


def _metadata_values(record: Any) -> dict[str, Any]:
    return {name: value.value for name, value in record.asset_materialization.metadata.items()}
