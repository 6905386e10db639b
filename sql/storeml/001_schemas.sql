-- storeml's own schemas. (ground_truth belongs to the simulator and is created by its own files.)
create schema if not exists raw;

comment on schema raw is 'Source tables extracted from the storefront databases, one table per source table';

create schema if not exists warehouse;

comment on schema warehouse is 'Star schema (customers, products, timeframe, transactions, sales) and bundle rules';

create schema if not exists features;

comment on schema features is 'Model features built from the warehouse';

create schema if not exists mlops;

comment on schema mlops is 'Model versions, monitoring metrics, retraining decisions, predictions and their views';

-- All timestamps are timestamptz; show them in UTC to every new session of this database.
-- Only the database owner may do this: elsewhere the server default stays in force.
do $$
begin
    execute format('alter database %I set timezone to %L', current_database(), 'UTC');
exception
    when insufficient_privilege then
        raise notice 'not the owner of database %: timezone left at the server default', current_database();
end
$$;
