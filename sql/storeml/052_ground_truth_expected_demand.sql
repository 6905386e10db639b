-- The simulator's planted demand: each day's expected units per leaf category and per product
-- (the demand-forecasting oracle), with the day's expected orders and planted factors.
create table if not exists ground_truth.expected_demand (
    series text not null,
    date date not null,
    expected_units double precision not null check (expected_units >= 0),
    expected_orders double precision not null check (expected_orders >= 0),
    yearly_factor double precision not null,
    holiday_factor double precision not null,
    promotion_factor double precision not null,
    primary key (series, date)
);
