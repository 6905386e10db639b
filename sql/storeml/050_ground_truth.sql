-- Planted truth of the storefront simulator, read by tests and the ML assets.
create schema if not exists ground_truth;

create table if not exists ground_truth.simulation_runs (
    run_id bigserial primary key,
    seed bigint not null,
    scale text not null,
    start_date date not null,
    end_date date not null,
    days integer not null,
    drift boolean not null,
    drift_cutover date,
    n_bundles integer not null,
    row_counts jsonb not null,
    config jsonb not null,
    generated_at timestamptz not null,
    created_at timestamptz not null default now()
);

create table if not exists ground_truth.planted_bundles (
    bundle_id integer primary key,
    product_ids bigint[] not null,
    product_names text[] not null,
    size integer not null,
    probability double precision not null,
    observed_orders integer not null,
    observed_support double precision not null,
    observed_lift double precision not null,
    created_at timestamptz not null default now()
);

create table if not exists ground_truth.customer_propensity (
    user_id bigint primary key,
    true_propensity double precision not null check (true_propensity >= 0 and true_propensity <= 1),
    will_purchase boolean not null,
    period_start date not null,
    period_end date not null,
    is_churned boolean not null,
    history_orders integer not null,
    created_at timestamptz not null default now()
);

create table if not exists ground_truth.drift_spec (
    feature_name text primary key,
    source_table text not null,
    source_column text not null,
    description text not null,
    cut_over date not null,
    expected_before double precision,
    expected_after double precision,
    created_at timestamptz not null default now()
);
