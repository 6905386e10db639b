-- Promotion service: campaigns, promo codes, their usage by orders (order_id and user_id point
-- at other services, no foreign key), eligibility, daily analytics and suggestions.
create table if not exists promotion_campaigns (
    campaign_id bigint primary key,
    name text not null,
    description text,
    channel text not null,
    status text not null check (status in ('scheduled', 'active', 'ended')),
    budget numeric(12, 2),
    starts_at timestamptz not null,
    ends_at timestamptz not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    check (ends_at > starts_at)
);

create index if not exists promotion_campaigns_starts_at_idx on promotion_campaigns (starts_at);

create or replace trigger promotion_campaigns_set_updated_at before update on promotion_campaigns
    for each row execute function set_updated_at();

create table if not exists promo_codes (
    promo_code_id bigint primary key,
    code text not null,
    description text,
    discount_type text not null check (discount_type in ('percent', 'fixed')),
    discount_value numeric(12, 2) not null check (discount_value > 0),
    min_order_amount numeric(12, 2) not null default 0,
    max_uses integer,
    valid_from timestamptz not null,
    valid_to timestamptz not null,
    is_active boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create unique index if not exists promo_codes_code_key on promo_codes (code);

create or replace trigger promo_codes_set_updated_at before update on promo_codes
    for each row execute function set_updated_at();

create table if not exists campaign_promo_codes (
    campaign_id bigint not null references promotion_campaigns (campaign_id),
    promo_code_id bigint not null references promo_codes (promo_code_id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (campaign_id, promo_code_id)
);

create index if not exists campaign_promo_codes_promo_code_id_idx on campaign_promo_codes (promo_code_id);

create or replace trigger campaign_promo_codes_set_updated_at before update on campaign_promo_codes
    for each row execute function set_updated_at();

create table if not exists promo_usage (
    usage_id bigint primary key,
    promo_code_id bigint not null references promo_codes (promo_code_id),
    code text not null,
    order_id bigint not null,
    user_id bigint not null,
    discount_amount numeric(12, 2) not null check (discount_amount >= 0),
    used_at timestamptz not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index if not exists promo_usage_promo_code_id_idx on promo_usage (promo_code_id);

create index if not exists promo_usage_order_id_idx on promo_usage (order_id);

create index if not exists promo_usage_user_id_idx on promo_usage (user_id);

create index if not exists promo_usage_used_at_idx on promo_usage (used_at);

create or replace trigger promo_usage_set_updated_at before update on promo_usage
    for each row execute function set_updated_at();

create table if not exists user_promo_eligibility (
    eligibility_id bigint primary key,
    user_id bigint not null,
    promo_code_id bigint not null references promo_codes (promo_code_id),
    reason text not null,
    eligible_from timestamptz not null,
    eligible_to timestamptz not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create unique index if not exists user_promo_eligibility_user_code_key on user_promo_eligibility (user_id, promo_code_id);

create index if not exists user_promo_eligibility_promo_code_id_idx on user_promo_eligibility (promo_code_id);

create or replace trigger user_promo_eligibility_set_updated_at before update on user_promo_eligibility
    for each row execute function set_updated_at();

create table if not exists promo_analytics (
    promo_code_id bigint not null references promo_codes (promo_code_id),
    date date not null,
    uses integer not null,
    unique_users integer not null,
    discount_total numeric(12, 2) not null,
    revenue numeric(14, 2) not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (promo_code_id, date)
);

create index if not exists promo_analytics_date_idx on promo_analytics (date);

create or replace trigger promo_analytics_set_updated_at before update on promo_analytics
    for each row execute function set_updated_at();

create table if not exists promo_suggestions (
    suggestion_id bigint primary key,
    user_id bigint not null,
    promo_code_id bigint not null references promo_codes (promo_code_id),
    score double precision not null check (score >= 0 and score <= 1),
    suggested_at timestamptz not null,
    accepted boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index if not exists promo_suggestions_user_id_idx on promo_suggestions (user_id);

create or replace trigger promo_suggestions_set_updated_at before update on promo_suggestions
    for each row execute function set_updated_at();
