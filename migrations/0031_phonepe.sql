-- PhonePe, the second payment provider (app/src/server/billing/phonepe/): the provider
-- each team pays through, every payment DreamOps asked PhonePe for (granted only once
-- PhonePe's status API says it completed), and which period's end a renewal reminder
-- was mailed for. Test mode's stand-in for PhonePe keeps what PhonePe would know in a
-- table of its own.
alter table teams add column payment_provider text not null default 'stripe'
    check (payment_provider in ('stripe', 'phonepe'));
alter table teams add column renewal_reminded_for timestamptz;

create table phonepe_payments (
    -- The merchantTransactionId DreamOps chose (at most 35 characters, PhonePe's limit).
    id text primary key check (length(id) <= 35),
    team_id uuid not null references teams (id) on delete cascade,
    plan text not null references plans (id),
    amount_paise bigint not null check (amount_paise > 0),
    created_by uuid references users (id) on delete set null,
    created_at timestamptz not null default now(),
    state text not null default 'pending' check (state in ('pending', 'completed', 'failed')),
    -- PhonePe's own transaction id and response code, once its status API answered.
    phonepe_transaction_id text,
    response_code text,
    settled_at timestamptz
);
create index phonepe_payments_by_team on phonepe_payments (team_id, created_at desc);
create index phonepe_payments_pending on phonepe_payments (created_at) where state = 'pending';

-- Test mode only: what the simulated PhonePe knows of each payment requested of it.
create table phonepe_sandbox_payments (
    merchant_transaction_id text primary key,
    merchant_id text not null,
    transaction_id text not null,
    amount_paise bigint not null,
    redirect_url text not null,
    callback_url text not null,
    state text not null default 'PENDING' check (state in ('PENDING', 'COMPLETED', 'FAILED')),
    created_at timestamptz not null default now()
);
