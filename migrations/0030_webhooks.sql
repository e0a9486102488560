-- Outgoing webhooks (app/src/server/webhooks/): the URLs a team subscribed to events,
-- each with a signing secret (sealed like every stored credential) and, for a day
-- after a rotation, the previous one too; and every delivery, queued in the
-- transaction of its event and sent by the job runner, with the answer it got.
create table webhook_endpoints (
    id uuid primary key,
    team_id uuid not null references teams (id) on delete cascade,
    url text not null,
    events text[] not null check (
        cardinality(events) > 0
        and events <@ array['incident.opened', 'incident.updated', 'incident.resolved', 'analysis.ready',
                             'action.awaiting_approval', 'action.executed']
    ),
    secret bytea not null,
    previous_secret bytea,
    previous_until timestamptz,
    created_at timestamptz not null default now()
);
create index webhook_endpoints_by_team on webhook_endpoints (team_id);

create table webhook_deliveries (
    id bigint generated always as identity primary key,
    team_id uuid not null references teams (id) on delete cascade,
    endpoint_id uuid not null references webhook_endpoints (id) on delete cascade,
    -- One event delivered to several endpoints (or replayed) keeps its id.
    event_id uuid not null,
    event text not null,
    payload jsonb not null,
    state text not null default 'queued' check (state in ('queued', 'running', 'delivered', 'failed')),
    attempts integer not null default 0,
    run_after timestamptz not null default now(),
    leased_by text,
    lease_until timestamptz,
    last_error text,
    -- The endpoint's last answer: its status and the start of its body.
    response_status integer,
    response_body text,
    created_at timestamptz not null default now(),
    finished_at timestamptz
);
create index webhook_deliveries_ready on webhook_deliveries (run_after) where state in ('queued', 'running');
create index webhook_deliveries_in_flight on webhook_deliveries (endpoint_id) where state = 'running';
create index webhook_deliveries_by_endpoint on webhook_deliveries (endpoint_id, id desc);
