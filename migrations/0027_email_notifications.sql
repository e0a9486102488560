-- Email notifications, per member of each team: new incidents at or above a severity,
-- actions awaiting approval, resolutions, and a weekly digest. A member without a row
-- has the defaults, defined once here in member_notifications. Only confirmed addresses
-- are mailed (app/src/server/notifications.rs).
create table notification_preferences (
    team_id uuid not null references teams (id) on delete cascade,
    user_id uuid not null references users (id) on delete cascade,
    -- The least severe new incident mailed; null: none.
    new_incident_severity text check (new_incident_severity in ('critical', 'error', 'warning', 'info')),
    awaiting_approval boolean not null,
    resolved boolean not null,
    weekly_digest boolean not null,
    updated_at timestamptz not null default now(),
    primary key (team_id, user_id)
);
create index notification_preferences_by_user on notification_preferences (user_id);

create view member_notifications as
select m.team_id, m.user_id, u.email::text as email, u.email_verified_at is not null as verified,
       case when p.user_id is null then 'critical' else p.new_incident_severity end as new_incident_severity,
       coalesce(p.awaiting_approval, true) as awaiting_approval,
       coalesce(p.resolved, false) as resolved,
       coalesce(p.weekly_digest, true) as weekly_digest
from memberships m
join users u on u.id = m.user_id
left join notification_preferences p on p.team_id = m.team_id and p.user_id = m.user_id;

-- Each team's weekly digest, sent once per week by whichever instance gets there first.
create table weekly_digests (
    team_id uuid not null references teams (id) on delete cascade,
    -- The Monday (UTC) the digest's week ends on.
    week date not null,
    sent_at timestamptz not null default now(),
    primary key (team_id, week)
);
