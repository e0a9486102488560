-- Remediation: the actions DreamOps takes on a cluster, approved by an operator or taken
-- automatically, each recorded as intended before anything is written to the cluster.
--
-- Workers claim intended actions (and actions whose worker died: executing with an
-- expired lease) with FOR UPDATE SKIP LOCKED. A resumed action first checks the cluster
-- for its own effect, so it is never carried out twice.
create table remediation_actions (
    id uuid primary key default gen_random_uuid(),
    team_id uuid not null references teams (id) on delete cascade,
    incident_id uuid not null references incidents (id) on delete cascade,
    cluster_id uuid not null references clusters (id) on delete cascade,
    -- Which recommended action of the analysis, and what it changes.
    action_index integer not null,
    title text not null,
    risk text not null check (risk in ('low', 'medium', 'high')),
    reversible boolean not null,
    change jsonb not null,
    -- `namespace/deployment` (or `namespace/pod`): one action in flight at a time.
    workload text not null,
    automatic boolean not null,
    requested_by text not null,
    comment text,
    state text not null default 'intended'
        check (state in ('intended', 'executing', 'verified', 'rolled_back', 'not_fixed', 'failed', 'cancelled')),
    outcome text,
    -- What the workload was before, and what was written (for checking and undoing).
    before jsonb,
    attempts integer not null default 0,
    leased_by text,
    lease_until timestamptz,
    created_at timestamptz not null default now(),
    finished_at timestamptz
);
create unique index remediation_one_in_flight on remediation_actions (cluster_id, workload)
    where state in ('intended', 'executing');
create index remediation_by_incident on remediation_actions (incident_id, created_at);
create index remediation_ready on remediation_actions (created_at) where state in ('intended', 'executing');
create index remediation_automatic_recent on remediation_actions (cluster_id, created_at) where automatic;

-- The team's kill switch: no automatic action while it is on.
alter table teams add column automation_paused boolean not null default false;
