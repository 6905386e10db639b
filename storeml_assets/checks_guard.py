"""The blocking-check guard: an asset refuses to run while a blocking check upstream of it has failed.

In a run that includes the checks Dagster skips the downstream steps when they fail; in any run, an
asset guarded here also reads the latest completed evaluation of every blocking check of every asset
upstream of it in the code location's graph and refuses when one failed. A check that was never
evaluated does not block.
"""

from collections.abc import Set as AbstractSet

import dagster as dg

from storeml_assets.db.urls import first_line

#: Completed evaluations looked at per check when finding its latest verdict.
_CHECK_HISTORY = 20


def upstream_blocking_checks(repository: dg.RepositoryDefinition, key: dg.AssetKey,
                             upstream: AbstractSet[dg.AssetKey] | None = None) -> list[dg.AssetCheckKey]:
    """Every blocking check in the repository of every asset upstream of ``key`` (in the repository's
    asset graph, unless the ``upstream`` keys are given)."""
    assets = list({id(d): d for d in repository.assets_defs_by_key.values()}.values())
    if upstream is None:
        upstream = dg.AssetSelection.assets(key).upstream().resolve(assets) - {key}
    check_defs = list({id(d): d for d in repository.asset_checks_defs_by_key.values()}.values())
    specs = [spec for d in [*assets, *check_defs] for spec in d.check_specs]
    keys = {spec.key for spec in specs if spec.blocking and spec.asset_key in upstream}
    return sorted(keys, key=lambda k: (k.asset_key.to_user_string(), k.name))


def failed_checks(instance: dg.DagsterInstance, keys: list[dg.AssetCheckKey]) -> list[str]:
    """``<asset>:<check>`` of every check in ``keys`` whose latest completed evaluation failed with
    severity ERROR (a check never evaluated, or only planned, does not count)."""
    failed = []
    for key in keys:
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=_CHECK_HISTORY)
        latest = next((r.evaluation for r in history if r.evaluation is not None), None)
        if latest is not None and not latest.passed and latest.severity == dg.AssetCheckSeverity.ERROR:
            failed.append(f"{key.asset_key.to_user_string()}:{key.name}")
    return failed


def _repository(context: dg.AssetExecutionContext) -> dg.RepositoryDefinition:
    """The code location the run belongs to. A run launched from a code location (daemon, UI) carries
    it; an in-process run (``execute_in_process``, ``dg.materialize``: the demo, tests) does not, and
    then storeml's own code location is the graph."""
    try:
        return context.repository_def
    except Exception as exc:  # Dagster raises an invariant error when the run has no repository
        context.log.debug(f"no repository on this run ({first_line(exc)}): using the storeml code location")
    from storeml_assets.definitions import defs  # not at module level: definitions imports the domains

    return defs.get_repository_def()


def failed_blocking_checks(context: dg.AssetExecutionContext, key: dg.AssetKey) -> list[str]:
    """The blocking checks upstream of ``key`` whose latest completed evaluation failed. An asset the
    code location does not hold (an in-process run of definitions of its own) finds its upstream assets
    in its job's graph, and their blocking checks in the code location."""
    repository = _repository(context)
    upstream = None
    if key not in repository.assets_defs_by_key:
        upstream = dg.AssetSelection.assets(key).upstream().resolve(context.job_def.asset_layer.asset_graph) - {key}
    return failed_checks(context.instance, upstream_blocking_checks(repository, key, upstream))
