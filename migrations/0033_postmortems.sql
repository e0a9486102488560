-- Post-mortems (app/src/server/postmortems.rs): one per resolved incident, in Markdown,
-- saved as people type (the version refuses a save made from an older one), and who
-- edited it.
create table postmortems (
    id uuid primary key,
    team_id uuid not null references teams (id) on delete cascade,
    incident_id uuid not null unique references incidents (id) on delete cascade,
    title text not null,
    body text not null,
    version integer not null default 1,
    updated_by text not null,
    updated_at timestamptz not null default now(),
    created_at timestamptz not null default now()
);
create index postmortems_by_team on postmortems (team_id, updated_at desc);

create table postmortem_editors (
    postmortem_id uuid not null references postmortems (id) on delete cascade,
    team_id uuid not null references teams (id) on delete cascade,
    edited_by text not null,
    first_edited_at timestamptz not null default now(),
    last_edited_at timestamptz not null default now(),
    primary key (postmortem_id, edited_by)
);
