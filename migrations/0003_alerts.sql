-- Alerts in: plans and their alert quotas, the team's alert sources, every alert
-- received (raw), the incidents alerts open or update, and their timelines.

-- The plans a team can be on. monthly_alert_limit is null for unlimited. Prices are
-- whole rupees per month. Seeded here; billing attaches payment provider prices.
create table plans (
    id text primary key,
    name text not null,
    monthly_alert_limit integer check (monthly_alert_limit > 0),
    price_inr integer not null check (price_inr >= 0),
    position integer not null unique
);
insert into plans (id, name, monthly_alert_limit, price_inr, position) values
    ('free', 'Free', 3, 0, 1),
    ('starter', 'Starter', 50, 999, 2),
    ('pro', 'Pro', 200, 2999, 3),
    ('enterprise', 'Enterprise', null, 9999, 4);

alter table teams add constraint teams_plan_fkey foreign key (plan) references plans (id);
-- The paid subscription's current period (set by billing). Null on Free, whose periods
-- are calendar months in UTC.
alter table teams add column period_start timestamptz;
alter table teams add column period_end timestamptz;

-- Alerts granted analysis per team and quota period, for plans with a limit. The grant
-- is one "insert ... on conflict do update ... where used < limit", atomic under any
-- concurrency: exactly the remaining quota is granted. Unlimited plans keep no row here
-- (a row every alert updates would serialise all ingestion of the team).
create table alert_usage (
    team_id uuid not null references teams (id) on delete cascade,
    period_start timestamptz not null,
    used integer not null check (used >= 0),
    primary key (team_id, period_start)
);

-- A team's alert sources, one per kind. token_hash finds the integration from the
-- token in its URL (or the Events API routing key) without storing the token in clear;
-- secrets_ciphertext holds the integration's secrets, encrypted (AES-256-GCM) under
-- the server's key, so that the integrations page can reveal them to admins. The last
-- delivery is read from alerts, not kept here: a column every delivery updated would
-- serialise the team's ingestion on this row.
create table integrations (
    id uuid primary key,
    team_id uuid not null references teams (id) on delete cascade,
    kind text not null check (kind in ('pagerduty', 'events_api', 'alertmanager', 'grafana')),
    token_hash bytea not null unique,
    secrets_ciphertext bytea not null,
    created_at timestamptz not null default now(),
    unique (team_id, kind)
);

-- What an incident is. severity and status are closed sets; analysis says whether the
-- agent may look at it (eligible) or whether it is held because the team's alert quota
-- was used up when it opened (over_quota) — it stays stored and visible either way.
create table incidents (
    id uuid primary key,
    team_id uuid not null references teams (id) on delete cascade,
    title text not null,
    description text,
    severity text not null check (severity in ('critical', 'error', 'warning', 'info')),
    status text not null check (status in ('triggered', 'acknowledged', 'resolved')),
    service text,
    source text not null,
    dedup_key text not null,
    occurrences integer not null default 1,
    first_seen_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    acknowledged_at timestamptz,
    acknowledged_by text,
    resolved_at timestamptz,
    resolved_by text,
    analysis text not null check (analysis in ('eligible', 'over_quota')),
    previous_incident_id uuid references incidents (id) on delete set null,
    external_url text,
    details jsonb not null default '{}'
);
-- At most one open incident per dedup key and team: what makes dedup race-free.
create unique index incidents_open_by_dedup_key on incidents (team_id, dedup_key) where status <> 'resolved';
create index incidents_by_team_status on incidents (team_id, status, last_seen_at desc);
create index incidents_by_team_activity on incidents (team_id, last_seen_at desc, id);
create index incidents_by_team_opened on incidents (team_id, first_seen_at);
-- The last resolved incident with a dedup key, which a new one with that key links to.
create index incidents_by_dedup_key on incidents (team_id, dedup_key, resolved_at desc);

-- Every delivery received, exactly as it arrived, stored in the same transaction as
-- its effect. delivery_id is the sender's id for the delivery (PagerDuty's webhook or
-- event id), unique per team and source, which makes redelivery harmless.
create table alerts (
    id uuid primary key,
    team_id uuid not null references teams (id) on delete cascade,
    source text not null,
    delivery_id text,
    received_at timestamptz not null default now(),
    raw_body bytea not null,
    parse_status text not null check (parse_status in ('parsed', 'unparsed')),
    parse_error text,
    event_action text,
    incident_id uuid references incidents (id) on delete set null
);
create unique index alerts_by_delivery on alerts (team_id, source, delivery_id) where delivery_id is not null;
create index alerts_by_team_time on alerts (team_id, received_at desc);
create index alerts_by_source_time on alerts (team_id, source, received_at desc);
create index alerts_by_incident on alerts (incident_id);

-- What happened to an incident, in order.
create table timeline_entries (
    id bigint generated always as identity primary key,
    team_id uuid not null references teams (id) on delete cascade,
    incident_id uuid not null references incidents (id) on delete cascade,
    at timestamptz not null default now(),
    kind text not null,
    actor text not null,
    message text not null,
    details jsonb not null default '{}'
);
create index timeline_by_incident on timeline_entries (incident_id, id);
