-- Telling other tools: PagerDuty write-back (acknowledge, note, resolve the PagerDuty
-- incident an alert came from) and Slack incoming-webhook messages, per team.
create table team_notifications (
    team_id uuid primary key references teams (id) on delete cascade,
    -- PagerDuty REST API key (sealed) and the PagerDuty user's email it acts as.
    pagerduty_key bytea,
    pagerduty_from text,
    -- Slack incoming-webhook address (sealed: whoever has it can post to the channel).
    slack_webhook bytea,
    updated_at timestamptz not null default now()
);

-- Calls to make, made by a deliverer on any instance (FOR UPDATE SKIP LOCKED), retried
-- with back-off, and parked as failed — visible on the incident — after the last attempt.
-- Never part of the pipeline's own transactions' success: a call that fails blocks nothing.
create table outbound_calls (
    id bigint generated always as identity primary key,
    team_id uuid not null references teams (id) on delete cascade,
    incident_id uuid references incidents (id) on delete cascade,
    target text not null check (target in ('pagerduty', 'slack')),
    -- What it says: acknowledge, note, resolve; new_incident, awaiting_approval, resolved.
    purpose text not null,
    method text not null,
    -- For PagerDuty, the path under the REST API's base; for Slack, empty.
    path text not null,
    body jsonb not null,
    state text not null default 'queued' check (state in ('queued', 'running', 'done', 'failed')),
    attempts integer not null default 0,
    run_after timestamptz not null default now(),
    lease_until timestamptz,
    last_error text,
    created_at timestamptz not null default now(),
    finished_at timestamptz
);
create index outbound_calls_ready on outbound_calls (run_after) where state in ('queued', 'running');
create index outbound_calls_by_incident on outbound_calls (incident_id, id);
