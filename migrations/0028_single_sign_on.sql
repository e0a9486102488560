-- Single sign-on for Enterprise teams (app/src/server/sso.rs): each team's OpenID
-- provider, its client credentials (the secret sealed like every stored credential), the
-- email domains it may sign in, and the role given to people it brings in. And which
-- provider identity is which account, so that a changed address at the provider still
-- reaches the same account.
create table team_sso (
    team_id uuid primary key references teams (id) on delete cascade,
    issuer text not null,
    client_id text not null,
    client_secret bytea not null,
    allowed_domains text[] not null,
    default_role text not null check (default_role in ('admin', 'operator', 'viewer')),
    updated_at timestamptz not null default now()
);
create index team_sso_by_domain on team_sso using gin (allowed_domains);

create table sso_identities (
    issuer text not null,
    subject text not null,
    user_id uuid not null references users (id) on delete cascade,
    created_at timestamptz not null default now(),
    primary key (issuer, subject)
);
create index sso_identities_by_user on sso_identities (user_id);
