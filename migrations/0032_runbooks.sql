-- Runbooks (app/src/server/runbooks/): a team's Markdown runbooks with the incidents
-- each is for (alert names, services, labels), every version kept with who made it,
-- and the steps ticked off on incidents.
create table runbooks (
    id uuid primary key,
    team_id uuid not null references teams (id) on delete cascade,
    title text not null check (length(title) between 1 and 200),
    body text not null check (length(body) <= 100000),
    alert_names text[] not null default '{}',
    services text[] not null default '{}',
    -- {"label": "value", ...}: the alert must carry them all.
    labels jsonb not null default '{}'::jsonb check (jsonb_typeof(labels) = 'object'),
    version integer not null default 1,
    updated_by text not null,
    updated_at timestamptz not null default now(),
    created_at timestamptz not null default now()
);
create index runbooks_by_team on runbooks (team_id, updated_at desc);

create table runbook_versions (
    runbook_id uuid not null references runbooks (id) on delete cascade,
    team_id uuid not null references teams (id) on delete cascade,
    version integer not null,
    title text not null,
    body text not null,
    alert_names text[] not null,
    services text[] not null,
    labels jsonb not null,
    edited_by_user uuid references users (id) on delete set null,
    edited_by text not null,
    edited_at timestamptz not null default now(),
    primary key (runbook_id, version)
);

create table runbook_ticks (
    incident_id uuid not null references incidents (id) on delete cascade,
    team_id uuid not null references teams (id) on delete cascade,
    runbook_id uuid not null references runbooks (id) on delete cascade,
    step integer not null check (step >= 0),
    -- The version whose step was ticked, and its text then.
    version integer not null,
    text text not null,
    ticked_by text not null,
    ticked_at timestamptz not null default now(),
    primary key (incident_id, runbook_id, step)
);
