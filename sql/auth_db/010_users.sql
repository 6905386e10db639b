-- Auth service: customer accounts, their sessions and profiles.
create table if not exists users (
    user_id bigint primary key,
    email text not null,
    first_name text not null,
    last_name text not null,
    dob date,
    phone text,
    country text not null,
    city text,
    signup_at timestamptz not null,
    is_active boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create unique index if not exists users_email_key on users (email);

create index if not exists users_signup_at_idx on users (signup_at);

create or replace trigger users_set_updated_at before update on users
    for each row execute function set_updated_at();

create table if not exists user_sessions (
    session_id bigint primary key,
    user_id bigint not null references users (user_id),
    started_at timestamptz not null,
    ended_at timestamptz,
    channel text not null check (channel in ('web', 'mobile', 'app')),
    device text not null check (device in ('desktop', 'mobile', 'tablet')),
    traffic_source text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    check (ended_at is null or ended_at >= started_at)
);

create index if not exists user_sessions_user_id_idx on user_sessions (user_id);

create index if not exists user_sessions_started_at_idx on user_sessions (started_at);

create or replace trigger user_sessions_set_updated_at before update on user_sessions
    for each row execute function set_updated_at();

create table if not exists user_profiles (
    user_id bigint primary key references users (user_id),
    segment text not null,
    marketing_opt_in boolean not null default false,
    loyalty_tier text not null default 'none',
    preferred_category_id bigint,
    preferences jsonb not null default '{}'::jsonb,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index if not exists user_profiles_segment_idx on user_profiles (segment);

create or replace trigger user_profiles_set_updated_at before update on user_profiles
    for each row execute function set_updated_at();
