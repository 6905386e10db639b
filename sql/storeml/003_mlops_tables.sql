-- MLOps lifecycle tables. Every timestamp is timestamptz (UTC).

create table if not exists mlops.model_versions (
    id serial primary key,
    model_name varchar(255) not null,
    mlflow_run_id varchar(255) not null unique,
    model_version varchar(50) not null,
    status varchar(50) not null default 'staging'
        check (status in ('staging', 'production', 'archived')),
    f1_score double precision,
    brier_score double precision,
    roc_auc double precision,
    pr_auc double precision,
    training_rows bigint,
    training_window_start timestamptz,
    training_window_end timestamptz,
    metadata jsonb,
    created_at timestamptz not null default now(),
    promoted_at timestamptz,
    archived_at timestamptz,
    check (training_window_end is null or training_window_start is null
        or training_window_end >= training_window_start)
);

-- At most one production version per model.
create unique index if not exists model_versions_one_production_per_model
    on mlops.model_versions (model_name)
    where status = 'production';

create index if not exists model_versions_model_created
    on mlops.model_versions (model_name, created_at);

create table if not exists mlops.monitoring_metrics (
    id serial primary key,
    "timestamp" timestamptz not null default now(),
    metric_type varchar(100) not null
        check (metric_type in ('drift', 'coverage', 'performance', 'trigger')),
    metric_name varchar(255) not null,
    metric_value double precision,
    model_name varchar(255),
    model_version varchar(50),
    metadata jsonb,
    created_at timestamptz not null default now()
);

create index if not exists monitoring_metrics_type_name_time
    on mlops.monitoring_metrics (metric_type, metric_name, "timestamp" desc, id desc);

create table if not exists mlops.retraining_decisions (
    id serial primary key,
    decision_timestamp timestamptz not null default now(),
    action varchar(50) not null
        check (action in ('promote', 'reject', 'pending')),
    model_name varchar(255),
    candidate_mlflow_run_id varchar(255),
    champion_mlflow_run_id varchar(255),
    gate_results jsonb not null
        check (jsonb_typeof(gate_results) in ('object', 'array')),
    reasoning text,
    dagster_run_id varchar(255),
    created_at timestamptz not null default now()
);

comment on column mlops.retraining_decisions.gate_results is
    'All six gates: {"<gate>": {"passed": bool, "value": ..., "threshold": ..., "reason": "..."}} (an array of objects with a "gate" key is also understood by the views)';

create index if not exists retraining_decisions_time
    on mlops.retraining_decisions (decision_timestamp desc, id desc);

create index if not exists retraining_decisions_candidate
    on mlops.retraining_decisions (candidate_mlflow_run_id);

create table if not exists mlops.predictions (
    id bigserial primary key,
    model_name varchar(255),
    model_version varchar(50),
    input jsonb,
    output jsonb,
    confidence double precision,
    latency_ms double precision,
    "timestamp" timestamptz not null default now()
);

create index if not exists predictions_model_time
    on mlops.predictions (model_name, model_version, "timestamp" desc);

create index if not exists predictions_time
    on mlops.predictions ("timestamp" desc);
