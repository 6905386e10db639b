-- Planted customer personas of the simulator: the oracle of the customer-segmentation family.
-- Derived from each customer's latent purchase rate, start of activity and churn at the end of the history.
create table if not exists ground_truth.customer_personas (
    user_id bigint primary key,
    persona text not null check (persona in ('new', 'hibernating', 'at_risk', 'champion', 'regular')),
    order_rate_per_30d double precision not null,
    expected_orders_window double precision not null,
    created_at timestamptz not null default now()
);
