-- Planted customer taste of the storefront simulator: the oracle of the recommendations family.
-- P(product | customer) is proportional to product_appeal.popularity (premium_appeal after a drift
-- cut-over) times exp of the customer's affinities the product matches (its leaf category, its brand).

create table if not exists ground_truth.customer_taste (
    user_id bigint not null,
    kind text not null check (kind in ('category', 'brand')),
    category_id bigint,
    brand text,
    affinity double precision not null,
    created_at timestamptz not null default now(),
    check ((kind = 'category') = (category_id is not null) and (kind = 'brand') = (brand is not null))
);
create index if not exists customer_taste_user_idx on ground_truth.customer_taste (user_id);

create table if not exists ground_truth.product_appeal (
    product_id bigint primary key,
    category_id bigint not null,
    brand text not null,
    popularity double precision not null check (popularity >= 0),
    premium_appeal double precision not null check (premium_appeal >= 0),
    created_at timestamptz not null default now()
);
