-- Columns the warehouse assets write beyond the star schema's documented ones:
-- transaction_ts is the daily partition column of transactions and sales; order_id and
-- discount_amount link a transaction back to its order (amount paid = amount - discount).
alter table warehouse.transactions add column if not exists order_id bigint;
alter table warehouse.transactions add column if not exists discount_amount numeric(12, 2);
alter table warehouse.transactions add column if not exists transaction_ts timestamptz;
alter table warehouse.sales add column if not exists transaction_ts timestamptz;
create index if not exists transactions_transaction_ts_idx on warehouse.transactions (transaction_ts);
create index if not exists sales_transaction_ts_idx on warehouse.sales (transaction_ts);
