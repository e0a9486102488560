-- Email. A mail is queued in the transaction of what it reports and sent by the job
-- runner (app/src/server/mail/send.rs); its id is its Message-ID, the same at every
-- attempt. Once sent, its bodies are wiped (they may carry a one-time link); the
-- recipient, subject and when remain. Without an SMTP server (development) a mail is
-- "logged" and keeps its bodies for the dev-only page.
create table mails (
    id uuid primary key,
    recipient citext not null,
    purpose text not null,
    subject text not null,
    text_body text not null,
    html_body text not null,
    state text not null default 'queued' check (state in ('queued', 'sending', 'sent', 'logged', 'failed')),
    attempts integer not null default 0,
    run_after timestamptz not null default now(),
    leased_by text,
    lease_until timestamptz,
    last_error text,
    created_at timestamptz not null default now(),
    finished_at timestamptz
);
create index mails_due on mails (run_after) where state in ('queued', 'sending');
create index mails_by_recipient on mails (recipient, created_at desc);

-- A password reset: the token's SHA-256 only, valid for an hour, used once.
create table password_resets (
    token_hash bytea primary key,
    user_id uuid not null references users (id) on delete cascade,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at timestamptz
);
create index password_resets_by_user on password_resets (user_id, created_at desc);

-- Reset requests, per address and per email, for their throttle.
create table password_reset_requests (
    id bigint generated always as identity primary key,
    email citext not null,
    client_addr text not null,
    requested_at timestamptz not null default now()
);
create index password_reset_requests_by_email on password_reset_requests (email, requested_at);
create index password_reset_requests_by_addr on password_reset_requests (client_addr, requested_at);
