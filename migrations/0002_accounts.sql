-- Accounts and teams: who may sign in, which teams they belong to and with what role,
-- invitations, API keys, the audit trail, and the server-side sessions.
--
-- Tenancy: every table of team data has a team_id, and every query of it filters on
-- the team of the authenticated session (see README, "Security").

-- A person who can sign in. The email is citext so that it is unique whatever its
-- capitalisation. session_version is bumped when the password changes: sessions carry
-- the version they were created with, and older ones stop being accepted.
create table users (
    id uuid primary key,
    email citext not null unique check (length(email) <= 254),
    password_hash text not null,
    session_version integer not null default 1,
    created_at timestamptz not null default now(),
    password_changed_at timestamptz not null default now()
);

-- A tenant. Everything a customer stores belongs to exactly one team. The plan is
-- plain text here; the billing work turns it into a reference to a plans table.
create table teams (
    id uuid primary key,
    name text not null check (length(name) between 1 and 80),
    plan text not null default 'free',
    created_at timestamptz not null default now()
);

-- Who belongs to which team, with one role each. The roles and what they allow are
-- defined once, in code (app/src/domain/account.rs); the check keeps stray values out.
create table memberships (
    team_id uuid not null references teams (id) on delete cascade,
    user_id uuid not null references users (id) on delete cascade,
    role text not null check (role in ('owner', 'admin', 'operator', 'viewer')),
    created_at timestamptz not null default now(),
    primary key (team_id, user_id)
);
create index memberships_by_user on memberships (user_id);

-- An invitation to join a team. Only a SHA-256 of the link's token is stored, so the
-- table cannot be used to accept invitations. Single use (accepted_at), expiring
-- (expires_at), revocable (revoked_at).
create table invitations (
    id uuid primary key,
    team_id uuid not null references teams (id) on delete cascade,
    email citext not null,
    role text not null check (role in ('owner', 'admin', 'operator', 'viewer')),
    token_hash bytea not null unique,
    invited_by uuid references users (id) on delete set null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    accepted_at timestamptz,
    accepted_by uuid references users (id) on delete set null,
    revoked_at timestamptz
);
create index invitations_by_team on invitations (team_id, created_at desc);

-- A team's key for the REST API. The secret is shown once; only its SHA-256 is kept
-- (the secret is 256 random bits, so a fast hash is enough). The prefix is the visible
-- part by which people recognise a key and by which a presented key is looked up.
create table api_keys (
    id uuid primary key,
    team_id uuid not null references teams (id) on delete cascade,
    name text not null check (length(name) between 1 and 80),
    prefix text not null unique,
    secret_hash bytea not null,
    created_by uuid references users (id) on delete set null,
    created_at timestamptz not null default now(),
    last_used_at timestamptz,
    revoked_at timestamptz
);
create index api_keys_by_team on api_keys (team_id, created_at desc);

-- Every state-changing action, who did it and from where. Actors are users, API keys,
-- the agent or a payment provider; actor_label keeps a readable name even after the
-- actor is deleted. Never updated or deleted by the application.
create table audit_log (
    id bigint generated always as identity primary key,
    team_id uuid not null references teams (id) on delete cascade,
    actor_kind text not null check (actor_kind in ('user', 'api_key', 'agent', 'payment_provider', 'system')),
    actor_id uuid,
    actor_label text not null,
    action text not null,
    target text,
    client_addr text,
    details jsonb not null default '{}',
    created_at timestamptz not null default now()
);
create index audit_log_by_team on audit_log (team_id, id desc);

-- Sign-in attempts, for throttling guessing: recent failures per account and per
-- client address are counted over a sliding window. Old rows are deleted as they
-- age out of every window.
create table login_attempts (
    id bigint generated always as identity primary key,
    email citext not null,
    client_addr text not null,
    succeeded boolean not null,
    attempted_at timestamptz not null default now()
);
create index login_attempts_by_email on login_attempts (email, attempted_at);
create index login_attempts_by_addr on login_attempts (client_addr, attempted_at);

-- Server-side sessions, in the layout tower-sessions' PostgreSQL store reads and
-- writes (id, MessagePack data, expiry). Created here rather than by the store at
-- start-up so that the schema has one source: these migrations.
create schema if not exists tower_sessions;
create table tower_sessions.session (
    id text primary key not null,
    data bytea not null,
    expiry_date timestamptz not null
);
create index session_by_expiry on tower_sessions.session (expiry_date);
