-- The public REST API (/api/v1, server/src/http/api/): what each key may do, and the
-- answers kept for `Idempotency-Key` (app/src/server/api_keys/idempotency.rs).
--
-- Keys made before scopes existed could only send alerts; they keep exactly that.
alter table api_keys
    add column scopes text[] not null default '{alerts}'
        check (cardinality(scopes) > 0 and scopes <@ array['alerts', 'read', 'respond', 'approve', 'admin']);
alter table api_keys alter column scopes drop default;

-- A POST's answer under its key's `Idempotency-Key`, for a day: the same key with the
-- same request gets the same answer; with another request, 422. `status` is null while
-- the first request is still being answered (a concurrent repeat gets 409). An answer
-- may hold a secret shown once (a webhook's signing secret): `body` is sealed like every
-- stored credential, to the row's `id`.
create table api_idempotency (
    id uuid not null default gen_random_uuid() unique,
    team_id uuid not null references teams (id) on delete cascade,
    api_key_id uuid not null references api_keys (id) on delete cascade,
    idempotency_key text not null,
    request_hash bytea not null,
    status smallint,
    body bytea,
    created_at timestamptz not null default now(),
    primary key (api_key_id, idempotency_key)
);
create index api_idempotency_by_age on api_idempotency (created_at);
