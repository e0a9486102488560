-- The agent's durable work: one analysis job per incident, and the analyses it writes.
--
-- Workers of every instance claim jobs with FOR UPDATE SKIP LOCKED and hold them under
-- a lease they renew while working; a job whose lease ran out (its worker died) is
-- claimed again. Failures are retried with back-off, then parked as failed.
create table agent_jobs (
    id bigint generated always as identity primary key,
    team_id uuid not null references teams (id) on delete cascade,
    incident_id uuid not null unique references incidents (id) on delete cascade,
    state text not null default 'queued' check (state in ('queued', 'running', 'done', 'failed')),
    attempts integer not null default 0,
    run_after timestamptz not null default now(),
    leased_by text,
    lease_until timestamptz,
    last_error text,
    created_at timestamptz not null default now(),
    finished_at timestamptz
);
create index agent_jobs_ready on agent_jobs (run_after, id) where state = 'queued';
create index agent_jobs_leased on agent_jobs (lease_until) where state = 'running';

-- One analysis per incident: the deterministic diagnosis, and the LLM's beside it.
create table analyses (
    incident_id uuid primary key references incidents (id) on delete cascade,
    team_id uuid not null references teams (id) on delete cascade,
    family text not null,
    root_cause text not null,
    confidence text not null check (confidence in ('low', 'medium', 'high')),
    evidence jsonb not null default '[]',
    actions jsonb not null default '[]',
    cluster_id uuid references clusters (id) on delete set null,
    workload jsonb,
    llm_model text,
    llm_answer text,
    created_at timestamptz not null default now(),
    -- From the incident's first alert to the analysis being stored.
    diagnosed_after_ms bigint not null
);
create index analyses_by_team on analyses (team_id, created_at);

-- An incident is queued for analysis when it is eligible at commit: opened within the
-- team's quota, or released from hold. Deferred to commit because ingestion opens an
-- incident eligible and may hold it later in the same transaction.
create function queue_analysis() returns trigger language plpgsql as $$
begin
    if exists (select 1 from incidents where id = new.id and analysis = 'eligible') then
        insert into agent_jobs (team_id, incident_id) values (new.team_id, new.id)
        on conflict (incident_id) do nothing;
        if found then
            perform pg_notify('agent_jobs', '');
        end if;
    end if;
    return null;
end;
$$;

create constraint trigger incidents_queue_analysis
    after insert or update of analysis on incidents
    deferrable initially deferred
    for each row execute function queue_analysis();

-- What responders said of an analysis: right or wrong, with an optional correction. One
-- verdict per analysis (a new one replaces it).
create table analysis_feedback (
    incident_id uuid primary key references analyses (incident_id) on delete cascade,
    team_id uuid not null references teams (id) on delete cascade,
    verdict text not null check (verdict in ('right', 'wrong')),
    correction text check (length(correction) <= 2000),
    given_by text not null,
    given_at timestamptz not null default now()
);
create index analysis_feedback_by_team on analysis_feedback (team_id, given_at);

-- Tokens each team's LLM analyses used, per calendar month (against the monthly budget).
create table llm_usage (
    team_id uuid not null references teams (id) on delete cascade,
    month date not null,
    tokens bigint not null default 0,
    primary key (team_id, month)
);

-- A team's own LLM provider, asked before the deployment's; its key sealed like every
-- other credential.
create table team_llm_providers (
    team_id uuid primary key references teams (id) on delete cascade,
    kind text not null check (kind in ('anthropic', 'openai')),
    base_url text not null,
    model text not null check (length(model) between 1 and 100),
    key_ciphertext bytea,
    updated_at timestamptz not null default now()
);
