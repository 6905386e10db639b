-- The serving API logs each answered request as one row: its instances, its outputs and their
-- confidences as three arrays in the same order. A batch of 100 costs one row, one JSON text per
-- array (stored as sent, not re-encoded) and one entry per index, instead of 100 of each.
-- mlops.v_predictions shows one row per prediction from both this table and mlops.predictions.

create table if not exists mlops.prediction_requests (
    id bigserial primary key,
    family varchar(255) not null,
    model_name varchar(255),
    model_version varchar(50),
    request_id varchar(64),
    instances json not null,
    outputs json not null,
    confidences double precision[],
    latency_ms double precision,
    "timestamp" timestamptz not null default now()
);

comment on table mlops.prediction_requests is
    'One row per answered request: instances[i] was answered by outputs[i] with confidences[i]; read per prediction through mlops.v_predictions';

create index if not exists prediction_requests_family_time
    on mlops.prediction_requests (family, "timestamp" desc);

create index if not exists prediction_requests_request
    on mlops.prediction_requests (request_id);

-- One row per prediction: the rows logged one by one (mlops.predictions) and every instance of the
-- logged requests. log_id and position order a request's predictions (position is 1 for single rows).
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
cross join lateral rows from (json_array_elements(r.instances), json_array_elements(r.outputs))
    with ordinality as e (input, output, position);
