-- A logged request's instances may be the request body as received ({"instances": [...]}), so the
-- server logs inline batches without encoding them again; mlops.v_predictions reads either form.
-- Both JSON columns are compressed with lz4 (a few times cheaper than the default pglz for a
-- request of 100 instances); a server built without lz4 stores them uncompressed instead.

comment on column mlops.prediction_requests.instances is
    'The instances in order: a JSON array, or the request body as received whose "instances" is that array';

do $$
begin
    alter table mlops.prediction_requests alter column instances set compression lz4;
    alter table mlops.prediction_requests alter column outputs set compression lz4;
exception when feature_not_supported then
    alter table mlops.prediction_requests alter column instances set storage external;
    alter table mlops.prediction_requests alter column outputs set storage external;
end
$$;

create or replace view mlops.v_predictions as
select
    'prediction' as logged_as,
    p.id as log_id,
    1::bigint as position,
    p.family,
    p.model_name,
    p.model_version,
    p.input,
    p.output,
    p.confidence,
    p.latency_ms,
    p.request_id,
    p."timestamp"
from mlops.predictions as p
union all
select
    'request' as logged_as,
    r.id as log_id,
    e.position,
    r.family,
    r.model_name,
    r.model_version,
    e.input::jsonb as input,
    e.output::jsonb as output,
    r.confidences[e.position] as confidence,
    r.latency_ms,
    r.request_id,
    r."timestamp"
from mlops.prediction_requests as r
cross join lateral rows from (
    json_array_elements(case when json_typeof(r.instances) = 'object' then r.instances -> 'instances' else r.instances end),
    json_array_elements(r.outputs)
) with ordinality as e (input, output, position);
