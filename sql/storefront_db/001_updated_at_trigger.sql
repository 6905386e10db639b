-- Shared trigger function: keeps updated_at current on every update.
create or replace function set_updated_at() returns trigger
language plpgsql
as $$
begin
    new.updated_at = now();
    return new;
end;
$$;
