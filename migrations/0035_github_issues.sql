-- GitHub issues (app/src/server/github/issues.rs): where a team's issues go and when they
-- are opened on their own; each issue DreamOps opens — for an incident, its post-mortem
-- or one of the post-mortem's action items — and the calls queued to GitHub for it
-- (open it; comment on it, and close it if the team wants, when the incident is
-- resolved), run by the job runner so that a rate limit or an outage only delays them.
alter table github_connections
    -- Issues of incidents whose service is mapped to no repository go here (owner/name).
    add column issue_repository text,
    -- An incident of these severities gets an issue once the agent diagnosed it.
    add column issue_severities text[] not null default '{}',
    add column issue_labels text[] not null default '{incident}',
    add column close_issues boolean not null default false;

create table github_issues (
    id uuid primary key,
    team_id uuid not null references teams (id) on delete cascade,
    incident_id uuid not null references incidents (id) on delete cascade,
    subject text not null check (subject in ('incident', 'postmortem', 'action_item')),
    -- The action item's text; empty for the others.
    item text not null default '' check (length(item) <= 1000),
    requested_by text not null,
    -- Set once GitHub opened it.
    repository text,
    number bigint,
    url text,
    commented_at timestamptz,
    closed_at timestamptz,
    created_at timestamptz not null default now(),
    unique (incident_id, subject, item)
);
create index github_issues_by_team on github_issues (team_id);

create table github_calls (
    id bigint generated always as identity primary key,
    team_id uuid not null references teams (id) on delete cascade,
    incident_id uuid not null references incidents (id) on delete cascade,
    issue_id uuid not null references github_issues (id) on delete cascade,
    call text not null check (call in ('open', 'resolved')),
    -- What the resolve comment says.
    note text not null default '',
    state text not null default 'queued' check (state in ('queued', 'running', 'done', 'failed')),
    attempts integer not null default 0,
    run_after timestamptz not null default now(),
    leased_by text,
    lease_until timestamptz,
    last_error text,
    created_at timestamptz not null default now(),
    finished_at timestamptz
);
create index github_calls_ready on github_calls (run_after) where state in ('queued', 'running');
create index github_calls_by_issue on github_calls (issue_id, id);
