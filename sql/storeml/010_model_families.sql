-- Model families judged in their own metrics (sentiment, segmentation, recommendations, forecasting):
-- the headline metric of every model version, every metric as rows, and recent monitoring per model.

alter table mlops.model_versions add column if not exists primary_metric varchar(100);
alter table mlops.model_versions add column if not exists primary_value double precision;

-- Every metric of every model version (metadata -> 'metrics'), one row each: what people chart and compare.
create or replace view mlops.v_model_metrics as
select
    mv.model_name,
    mv.model_version,
    mv.status,
    mv.mlflow_run_id,
    mv.created_at,
    mv.promoted_at,
    m.key as metric_name,
    case when jsonb_typeof(m.value) = 'number' then (m.value #>> '{}')::double precision end as metric_value,
    m.key = mv.primary_metric as is_primary
from mlops.model_versions as mv
cross join lateral jsonb_each(
    case when jsonb_typeof(mv.metadata -> 'metrics') = 'object' then mv.metadata -> 'metrics' else '{}'::jsonb end
) as m (key, value);

-- One row per model family: its champion (production version) with the headline metric, and its newest attempt.
create or replace view mlops.v_family_status as
select
    names.model_name,
    champion.model_version as champion_version,
    coalesce(champion.primary_metric, case when champion.f1_score is not null then 'f1' end) as primary_metric,
    coalesce(champion.primary_value, champion.f1_score) as champion_primary_value,
    champion.promoted_at,
    newest.model_version as newest_version,
    newest.status as newest_status,
    newest.created_at as newest_created_at
from (select distinct model_name from mlops.model_versions) as names
left join lateral (
    select * from mlops.model_versions as mv
    where mv.model_name = names.model_name and mv.status = 'production'
    order by mv.promoted_at desc nulls last, mv.id desc limit 1
) as champion on true
left join lateral (
    select * from mlops.model_versions as mv
    where mv.model_name = names.model_name
    order by mv.created_at desc, mv.id desc limit 1
) as newest on true
order by names.model_name;

-- The latest value of each metric, per model, metric type and name (several families write drift_share).
create or replace view mlops.v_recent_monitoring as
select distinct on (m.model_name, m.metric_type, m.metric_name)
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
order by m.model_name, m.metric_type, m.metric_name, m."timestamp" desc, m.id desc;
