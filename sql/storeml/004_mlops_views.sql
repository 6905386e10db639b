-- Analyst views over the mlops tables. storeml's CLI (`storeml mlops ...`) reads these.

-- Every decision, newest first, with the candidate's model version and how many gates passed.
-- gate_results is either {"<gate>": {"passed": bool, ...}, ...} or [{"gate": "<gate>", "passed": bool, ...}, ...].
create or replace view mlops.v_decision_history as
select
    d.id as decision_id,
    d.decision_timestamp,
    d.action,
    coalesce(d.model_name, mv.model_name) as model_name,
    d.candidate_mlflow_run_id,
    mv.model_version,
    mv.status,
    mv.f1_score,
    mv.brier_score,
    mv.roc_auc,
    mv.pr_auc,
    d.champion_mlflow_run_id,
    gates.gates_passed,
    gates.gates_total,
    gates.failed_gates,
    d.gate_results,
    d.reasoning,
    d.dagster_run_id
from mlops.retraining_decisions as d
left join mlops.model_versions as mv
    on mv.mlflow_run_id = d.candidate_mlflow_run_id
cross join lateral (
    select
        count(*) filter (where g.passed)::integer as gates_passed,
        count(*)::integer as gates_total,
        coalesce(array_agg(g.name order by g.name) filter (where not g.passed), '{}'::text[]) as failed_gates
    from (
        select
            o.key as name,
            case jsonb_typeof(o.value)
                when 'boolean' then o.value = 'true'::jsonb
                when 'object' then coalesce(o.value -> 'passed' = 'true'::jsonb, false)
                else false
            end as passed
        from jsonb_each(
            case when jsonb_typeof(d.gate_results) = 'object' then d.gate_results else '{}'::jsonb end
        ) as o (key, value)
        union all
        select
            coalesce(a.value ->> 'gate', a.value ->> 'name', a.ordinality::text) as name,
            coalesce(a.value -> 'passed' = 'true'::jsonb, false) as passed
        from jsonb_array_elements(
            case when jsonb_typeof(d.gate_results) = 'array' then d.gate_results else '[]'::jsonb end
        ) with ordinality as a (value, ordinality)
    ) as g
) as gates
order by d.decision_timestamp desc, d.id desc;

-- Model versions over time: when each was promoted and until when it was in production.
-- production_until is null for the version still in production (and for versions never promoted).
create or replace view mlops.v_model_timeline as
select
    t.id,
    t.model_name,
    t.model_version,
    t.mlflow_run_id,
    t.status,
    t.f1_score,
    t.brier_score,
    t.roc_auc,
    t.pr_auc,
    t.training_rows,
    t.created_at,
    t.promoted_at,
    t.archived_at,
    t.promoted_at as production_from,
    t.production_until,
    coalesce(t.production_until, case when t.status = 'production' then now() end) - t.promoted_at
        as time_in_production,
    t.status = 'production' as is_production,
    t.promotion_number
from (
    select
        mv.*,
        case
            when mv.promoted_at is null or mv.status = 'production' then null
            else least(
                mv.archived_at,
                lead(mv.promoted_at) over (
                    partition by mv.model_name, mv.promoted_at is null
                    order by mv.promoted_at, mv.id
                )
            )
        end as production_until,
        case
            when mv.promoted_at is not null then row_number() over (
                partition by mv.model_name, mv.promoted_at is null
                order by mv.promoted_at, mv.id
            )
        end as promotion_number
    from mlops.model_versions as mv
) as t
order by t.created_at, t.id;

-- The latest value of each metric, per metric type and name.
create or replace view mlops.v_recent_monitoring as
select distinct on (m.metric_type, m.metric_name)
    m.metric_type,
    m.metric_name,
    m.metric_value,
    m."timestamp",
    m.model_name,
    m.model_version,
    m.metadata,
    m.id as metric_id,
    m.created_at
from mlops.monitoring_metrics as m
order by m.metric_type, m.metric_name, m."timestamp" desc, m.id desc;
