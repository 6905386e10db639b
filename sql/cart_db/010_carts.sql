-- Cart service: carts and their items, wishlists, saved carts, a denormalized read model and
-- the log of cross-service reference checks. user_id, product_id and order_id point at other
-- services and carry no foreign key.
create table if not exists carts (
    cart_id bigint primary key,
    user_id bigint not null,
    session_id bigint,
    status text not null check (status in ('active', 'abandoned', 'converted')),
    converted_order_id bigint,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index if not exists carts_user_id_idx on carts (user_id);

create index if not exists carts_created_at_idx on carts (created_at);

create or replace trigger carts_set_updated_at before update on carts
    for each row execute function set_updated_at();

create table if not exists cart_items (
    cart_item_id bigint primary key,
    cart_id bigint not null references carts (cart_id),
    product_id bigint not null,
    variant_id bigint,
    quantity integer not null check (quantity > 0),
    unit_price numeric(12, 2) not null check (unit_price >= 0),
    added_at timestamptz not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index if not exists cart_items_cart_id_idx on cart_items (cart_id);

create index if not exists cart_items_product_id_idx on cart_items (product_id);

create or replace trigger cart_items_set_updated_at before update on cart_items
    for each row execute function set_updated_at();

create table if not exists wishlists (
    wishlist_id bigint primary key,
    user_id bigint not null,
    name text not null,
    is_public boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index if not exists wishlists_user_id_idx on wishlists (user_id);

create or replace trigger wishlists_set_updated_at before update on wishlists
    for each row execute function set_updated_at();

create table if not exists wishlist_items (
    wishlist_item_id bigint primary key,
    wishlist_id bigint not null references wishlists (wishlist_id),
    product_id bigint not null,
    added_at timestamptz not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create unique index if not exists wishlist_items_wishlist_product_key on wishlist_items (wishlist_id, product_id);

create index if not exists wishlist_items_product_id_idx on wishlist_items (product_id);

create or replace trigger wishlist_items_set_updated_at before update on wishlist_items
    for each row execute function set_updated_at();

create table if not exists saved_carts (
    saved_cart_id bigint primary key,
    user_id bigint not null,
    cart_id bigint not null references carts (cart_id),
    name text not null,
    item_count integer not null check (item_count >= 0),
    total_value numeric(12, 2) not null check (total_value >= 0),
    saved_at timestamptz not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index if not exists saved_carts_user_id_idx on saved_carts (user_id);

create or replace trigger saved_carts_set_updated_at before update on saved_carts
    for each row execute function set_updated_at();

-- Read model (CQRS): one row per item of a live (active or abandoned) cart, with snapshots of
-- the user and product fields the cart page shows. No foreign keys by design.
create table if not exists cart_view (
    cart_item_id bigint primary key,
    cart_id bigint not null,
    cart_status text not null,
    user_id bigint not null,
    user_email text,
    user_first_name text,
    user_last_name text,
    product_id bigint not null,
    product_sku text,
    product_name text,
    product_brand text,
    category_name text,
    quantity integer not null,
    unit_price numeric(12, 2) not null,
    line_total numeric(12, 2) not null,
    added_at timestamptz not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index if not exists cart_view_user_id_idx on cart_view (user_id);

create index if not exists cart_view_cart_id_idx on cart_view (cart_id);

create or replace trigger cart_view_set_updated_at before update on cart_view
    for each row execute function set_updated_at();

create table if not exists reference_validation_log (
    log_id bigint primary key,
    entity_type text not null,
    entity_id bigint not null,
    reference_type text not null check (reference_type in ('user', 'product', 'order')),
    reference_id bigint not null,
    is_valid boolean not null,
    error_message text,
    validated_at timestamptz not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index if not exists reference_validation_log_validated_at_idx on reference_validation_log (validated_at);

create index if not exists reference_validation_log_entity_idx on reference_validation_log (entity_type, entity_id);

create or replace trigger reference_validation_log_set_updated_at before update on reference_validation_log
    for each row execute function set_updated_at();
