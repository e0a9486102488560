-- Each instance keeps the integrations it has looked up in memory (by token digest)
-- and forgets one when it hears it changed: every change to an integration announces
-- the digest it was found by, in the changing transaction (delivered at commit).

create function announce_integration_change()
returns trigger
language plpgsql as $$
begin
    perform pg_notify('integration_changed', encode(old.token_hash, 'hex'));
    return null;
end
$$;

create trigger integration_changed
after update or delete on integrations
for each row execute function announce_integration_change();
