-- The warehouse star schema. The Dagster IO manager owns these tables' contents (it stages a
-- table and swaps it in), so this file documents the contract: the columns and their types.

create table if not exists warehouse.customers (
    customer_id bigint primary key,
    first_name text,
    last_name text,
    dob date,
    phone text,
    email text
);

create table if not exists warehouse.products (
    product_sku text primary key,
    product_name text,
    category text,
    brand text,
    price numeric(12, 2)
);

create table if not exists warehouse.timeframe (
    time_id bigint primary key,
    date date not null,
    day integer not null,
    month integer not null,
    year integer not null
);

create table if not exists warehouse.transactions (
    transaction_id bigint primary key,
    customer_id bigint,
    time_id bigint,
    transaction_amount numeric(12, 2),
    channel text,
    payment_type text
);

create table if not exists warehouse.sales (
    sale_id bigint primary key,
    transaction_id bigint,
    product_sku text,
    quantity integer,
    unit_price numeric(12, 2),
    line_total numeric(12, 2)
);

create table if not exists warehouse.bundle_rules (
    id bigint primary key,
    antecedents text[] not null,
    consequents text[] not null,
    antecedent_names text[],
    consequent_names text[],
    support double precision,
    confidence double precision,
    lift double precision,
    representativity double precision,
    leverage double precision,
    conviction double precision,
    zhangs_metric double precision,
    jaccard double precision,
    certainty double precision,
    kulczynski double precision,
    antecedent_support double precision,
    consequent_support double precision,
    created_at timestamptz not null default now()
);

comment on table warehouse.bundle_rules is 'Association rules (mlxtend metrics); antecedents/consequents are product SKUs';
