-- Plans and billing: each team's Stripe customer and subscription, every Stripe event
-- received, and the checkout sessions DreamOps opened.

-- The plan the pricing page recommends.
alter table plans add column recommended boolean not null default false;
update plans set recommended = true where id = 'pro';

-- The subscription as Stripe last described it. subscription_as_of is the time of the
-- event that state came from: an older event, arriving late, changes nothing.
-- past_due_since starts the grace period a team keeps its tier for.
alter table teams add column stripe_customer_id text;
alter table teams add column stripe_subscription_id text;
alter table teams add column subscription_status text;
alter table teams add column cancel_at_period_end boolean not null default false;
alter table teams add column past_due_since timestamptz;
alter table teams add column subscription_as_of timestamptz;
create unique index teams_by_stripe_subscription on teams (stripe_subscription_id);
create index teams_by_stripe_customer on teams (stripe_customer_id);

-- Every authentic Stripe event, under its own id: recorded in the same transaction as
-- its effect, so a redelivery (Stripe delivers at least once) meets the primary key and
-- has no second effect. outcome: applied | ignored | unparsed (stored raw, acknowledged).
create table stripe_events (
    id text primary key,
    type text not null,
    created timestamptz not null,
    received_at timestamptz not null default now(),
    team_id uuid references teams (id) on delete set null,
    outcome text not null check (outcome in ('pending', 'applied', 'ignored', 'unparsed')),
    detail text,
    payload bytea not null
);
create index stripe_events_by_team on stripe_events (team_id, created desc);

-- Checkout sessions DreamOps opened, and for which team and plan: a completed checkout
-- upgrades only the team that opened it.
create table checkout_sessions (
    id text primary key,
    team_id uuid not null references teams (id) on delete cascade,
    plan text not null references plans (id),
    created_by uuid references users (id) on delete set null,
    created_at timestamptz not null default now(),
    completed_at timestamptz
);
create index checkout_sessions_by_team on checkout_sessions (team_id, created_at desc);
