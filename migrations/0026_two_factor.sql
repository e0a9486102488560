-- Two-factor sign-in (TOTP, RFC 6238). A user's secret is sealed like every stored
-- credential (its place: this table and column, the user); `enabled_at` is null while
-- enrolment waits for the first code. `last_step` is the time step of the last code
-- accepted: a code is used once.
create table two_factor (
    user_id uuid primary key references users (id) on delete cascade,
    secret bytea not null,
    enabled_at timestamptz,
    last_step bigint not null default 0
);

-- Ten single-use recovery codes per user, each stored as its SHA-256.
create table recovery_codes (
    user_id uuid not null references users (id) on delete cascade,
    code_hash bytea not null,
    used_at timestamptz,
    primary key (user_id, code_hash)
);

-- Browsers a user chose to remember for 30 days: the cookie's token, as its SHA-256.
-- Ended when the password changes (the user's session version moves on).
create table remembered_devices (
    token_hash bytea primary key,
    user_id uuid not null references users (id) on delete cascade,
    session_version integer not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null
);
create index remembered_devices_by_user on remembered_devices (user_id);

-- Owners may require every member to sign in with a second factor.
alter table teams add column require_two_factor boolean not null default false;
