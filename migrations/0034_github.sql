-- GitHub (app/src/server/github/): a team's token, sealed like every stored credential,
-- with the account it belongs to; and the repository and branch each service's code
-- lives in.
create table github_connections (
    team_id uuid primary key references teams (id) on delete cascade,
    token bytea not null,
    login text not null,
    updated_at timestamptz not null default now()
);

create table github_repositories (
    team_id uuid not null references teams (id) on delete cascade,
    service text not null,
    repository text not null,
    branch text not null default 'main',
    primary key (team_id, service)
);
create unique index github_repositories_by_service on github_repositories (team_id, lower(service));
