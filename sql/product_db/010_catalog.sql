-- Product service: category tree, products, variants, images and inventory.
create table if not exists categories (
    category_id bigint primary key,
    name text not null,
    parent_category_id bigint references categories (category_id),
    description text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create unique index if not exists categories_name_key on categories (name);

create index if not exists categories_parent_idx on categories (parent_category_id);

create or replace trigger categories_set_updated_at before update on categories
    for each row execute function set_updated_at();

create table if not exists products (
    product_id bigint primary key,
    sku text not null,
    name text not null,
    description text,
    category_id bigint not null references categories (category_id),
    brand text not null,
    price numeric(12, 2) not null check (price >= 0),
    cost numeric(12, 2) check (cost >= 0),
    is_active boolean not null default true,
    launched_at date,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create unique index if not exists products_sku_key on products (sku);

create index if not exists products_category_id_idx on products (category_id);

create index if not exists products_brand_idx on products (brand);

create or replace trigger products_set_updated_at before update on products
    for each row execute function set_updated_at();

create table if not exists product_variants (
    variant_id bigint primary key,
    product_id bigint not null references products (product_id),
    variant_sku text not null,
    size text,
    color text,
    price_delta numeric(12, 2) not null default 0,
    stock_quantity integer not null default 0 check (stock_quantity >= 0),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create unique index if not exists product_variants_variant_sku_key on product_variants (variant_sku);

create index if not exists product_variants_product_id_idx on product_variants (product_id);

create or replace trigger product_variants_set_updated_at before update on product_variants
    for each row execute function set_updated_at();

create table if not exists product_images (
    image_id bigint primary key,
    product_id bigint not null references products (product_id),
    url text not null,
    alt_text text,
    is_primary boolean not null default false,
    sort_order integer not null default 0,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index if not exists product_images_product_id_idx on product_images (product_id);

create or replace trigger product_images_set_updated_at before update on product_images
    for each row execute function set_updated_at();

create table if not exists product_inventory (
    inventory_id bigint primary key,
    product_id bigint not null references products (product_id),
    warehouse text not null,
    quantity_on_hand integer not null check (quantity_on_hand >= 0),
    quantity_reserved integer not null default 0 check (quantity_reserved >= 0),
    reorder_level integer not null default 0,
    last_restocked_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create unique index if not exists product_inventory_product_warehouse_key
    on product_inventory (product_id, warehouse);

create or replace trigger product_inventory_set_updated_at before update on product_inventory
    for each row execute function set_updated_at();
