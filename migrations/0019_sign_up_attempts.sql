-- Sign-ups, for throttling them per client address and across the deployment: each
-- attempt is recorded before its password is hashed, then counted with the others of
-- the window (so a parallel burst is counted whole). Rows older than a day are deleted
-- as new ones arrive.
create table sign_up_attempts (
    id bigint generated always as identity primary key,
    client_addr text not null,
    attempted_at timestamptz not null default now()
);
create index sign_up_attempts_by_time on sign_up_attempts (attempted_at);
create index sign_up_attempts_by_addr on sign_up_attempts (client_addr, attempted_at);
