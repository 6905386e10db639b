-- Storefront: orders and their lines, payments, the interaction funnel and reviews.
-- user_id, session_id and product_id point at other services and carry no foreign key.
-- Amounts: subtotal_amount = sum(order_items.line_total); total_amount = subtotal_amount -
-- discount_amount; transactions.amount = orders.total_amount.
create table if not exists orders (
    order_id bigint primary key,
    user_id bigint not null,
    session_id bigint,
    ordered_at timestamptz not null,
    status text not null
        check (status in ('processing', 'shipped', 'delivered', 'returned', 'cancelled', 'payment_failed')),
    channel text not null check (channel in ('web', 'mobile', 'app')),
    subtotal_amount numeric(12, 2) not null check (subtotal_amount >= 0),
    discount_amount numeric(12, 2) not null default 0 check (discount_amount >= 0),
    total_amount numeric(12, 2) not null check (total_amount >= 0),
    promo_code text,
    shipping_country text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index if not exists orders_user_id_idx on orders (user_id);

create index if not exists orders_ordered_at_idx on orders (ordered_at);

create index if not exists orders_status_idx on orders (status);

create or replace trigger orders_set_updated_at before update on orders
    for each row execute function set_updated_at();

create table if not exists order_items (
    order_item_id bigint primary key,
    order_id bigint not null references orders (order_id),
    product_id bigint not null,
    variant_id bigint,
    quantity integer not null check (quantity > 0),
    unit_price numeric(12, 2) not null check (unit_price >= 0),
    line_total numeric(12, 2) not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint order_items_line_total_check check (line_total = quantity * unit_price)
);

create index if not exists order_items_order_id_idx on order_items (order_id);

create index if not exists order_items_product_id_idx on order_items (product_id);

create or replace trigger order_items_set_updated_at before update on order_items
    for each row execute function set_updated_at();

create table if not exists transactions (
    transaction_id bigint primary key,
    order_id bigint not null references orders (order_id),
    user_id bigint not null,
    amount numeric(12, 2) not null check (amount >= 0),
    currency text not null default 'USD',
    payment_type text not null
        check (payment_type in ('credit_card', 'debit_card', 'paypal', 'apple_pay', 'gift_card')),
    status text not null check (status in ('success', 'failed')),
    failure_reason text,
    processed_at timestamptz not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index if not exists transactions_order_id_idx on transactions (order_id);

create index if not exists transactions_user_id_idx on transactions (user_id);

create index if not exists transactions_processed_at_idx on transactions (processed_at);

create or replace trigger transactions_set_updated_at before update on transactions
    for each row execute function set_updated_at();

create table if not exists user_interactions (
    interaction_id bigint primary key,
    user_id bigint not null,
    session_id bigint not null,
    product_id bigint not null,
    interaction_type text not null
        check (interaction_type in ('view', 'click', 'add_to_cart', 'wishlist', 'purchase')),
    occurred_at timestamptz not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index if not exists user_interactions_user_id_idx on user_interactions (user_id);

create index if not exists user_interactions_session_id_idx on user_interactions (session_id);

create index if not exists user_interactions_product_id_idx on user_interactions (product_id);

create index if not exists user_interactions_occurred_at_idx on user_interactions (occurred_at);

create or replace trigger user_interactions_set_updated_at before update on user_interactions
    for each row execute function set_updated_at();

create table if not exists reviews (
    review_id bigint primary key,
    user_id bigint not null,
    product_id bigint not null,
    order_id bigint not null references orders (order_id),
    rating smallint not null check (rating between 1 and 5),
    title text not null,
    body text not null,
    is_verified_purchase boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index if not exists reviews_product_id_idx on reviews (product_id);

create index if not exists reviews_user_id_idx on reviews (user_id);

create index if not exists reviews_created_at_idx on reviews (created_at);

create or replace trigger reviews_set_updated_at before update on reviews
    for each row execute function set_updated_at();
