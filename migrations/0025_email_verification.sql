-- Email verification. An account's address is verified when a link mailed to it is
-- used (or a password reset or an invitation that reached it); until then the account
-- uses its own team but cannot accept invitations, receive notifications or upgrade.
-- Accounts from before this migration start unverified. A change of address is a
-- verification of the new address: it takes effect when that link is used.
alter table users add column email_verified_at timestamptz;

-- A link mailed to `email` for `user_id`: the token's SHA-256 only, valid a day, used
-- once. `email` is the address it verifies (the account's, or the one it moves to).
create table email_verifications (
    token_hash bytea primary key,
    user_id uuid not null references users (id) on delete cascade,
    email citext not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at timestamptz
);
create index email_verifications_by_user on email_verifications (user_id, created_at desc);
