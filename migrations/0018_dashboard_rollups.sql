-- The dashboard's figures kept per team and UTC day, so that the dashboard reads a few
-- hundred rows however many incidents a team has, instead of grouping the last 30 days'
-- incidents and alerts on every view.
--
-- incident_days: the incidents that opened on a day, by severity and service ('' for
-- none): how many, how many were acknowledged and resolved (and by the agent), and the
-- milliseconds from opening to acknowledgement and to resolution summed (the means'
-- numerators, exact in integers). alert_days: the alerts received on a day.
--
-- Triggers keep them, so that every writer (ingestion, responders, the agent, a
-- hand-written update) keeps them right without knowing they exist: new incidents and
-- alerts are added once per statement, grouped in one upsert (ingestion writes a round
-- of alerts in one statement); an update that moves a figure (acknowledged, resolved,
-- severity, service) takes the incident's old share away and adds its new one, and the
-- trigger's condition leaves out the updates that only count a repeated alert. Rows are
-- upserted in key order, so that two transactions never wait for each other's rows in
-- opposite orders.
create table incident_days (
    team_id uuid not null references teams (id) on delete cascade,
    day date not null,
    severity text not null,
    service text not null,
    opened bigint not null,
    acknowledged bigint not null,
    ack_ms bigint not null,
    resolved bigint not null,
    resolve_ms bigint not null,
    resolved_by_agent bigint not null,
    primary key (team_id, day, severity, service)
);

create table alert_days (
    team_id uuid not null references teams (id) on delete cascade,
    day date not null,
    alerts bigint not null,
    primary key (team_id, day)
);

-- One incident's share of its day's figures, times `sign` (1 adds it, -1 takes it away).
create function incident_day_share(i incidents, sign integer) returns incident_days
language sql immutable as $$
    select row(i.team_id, (i.first_seen_at at time zone 'UTC')::date, i.severity, coalesce(i.service, ''),
               sign,
               sign * (i.acknowledged_at is not null)::integer,
               sign * coalesce(round(extract(epoch from i.acknowledged_at - i.first_seen_at) * 1000), 0),
               sign * (i.resolved_at is not null)::integer,
               sign * coalesce(round(extract(epoch from i.resolved_at - i.first_seen_at) * 1000), 0),
               -- The agent's name (AGENT_NAME in the app) as it signs what it resolves.
               sign * (i.resolved_by is not distinct from 'DreamOps agent')::integer)::incident_days
$$;

-- Adds shares to incident_days: summed per row, upserted in key order. (PL/pgSQL, so
-- that its plan is kept between calls: an SQL function's statement is planned anew on
-- every call from a trigger.)
create function incident_days_add(shares incident_days[]) returns void language plpgsql as $$
begin
    insert into incident_days as d
    select team_id, day, severity, service, sum(opened), sum(acknowledged), sum(ack_ms), sum(resolved),
           sum(resolve_ms), sum(resolved_by_agent)
    from unnest(shares)
    group by 1, 2, 3, 4
    order by 1, 2, 3, 4
    on conflict (team_id, day, severity, service) do update
    set opened = d.opened + excluded.opened, acknowledged = d.acknowledged + excluded.acknowledged,
        ack_ms = d.ack_ms + excluded.ack_ms, resolved = d.resolved + excluded.resolved,
        resolve_ms = d.resolve_ms + excluded.resolve_ms,
        resolved_by_agent = d.resolved_by_agent + excluded.resolved_by_agent;
end
$$;

-- New incidents, once per statement (ingestion opens a round's incidents in one).
create function incident_days_opened() returns trigger language plpgsql as $$
begin
    perform incident_days_add(array(select incident_day_share(n, 1) from new_rows n));
    return null;
end
$$;

-- A changed incident: only the changes that move a figure call this (the trigger's
-- condition), not the repeated alerts that count occurrences — most of ingestion's updates.
create function incident_days_changed() returns trigger language plpgsql as $$
begin
    perform incident_days_add(array[incident_day_share(old, -1), incident_day_share(new, 1)]);
    return null;
end
$$;

-- Deleted incidents: only rows still there (a team's deletion removes its rows itself).
create function incident_days_deleted() returns trigger language plpgsql as $$
begin
    update incident_days d
    set opened = d.opened + c.opened, acknowledged = d.acknowledged + c.acknowledged, ack_ms = d.ack_ms + c.ack_ms,
        resolved = d.resolved + c.resolved, resolve_ms = d.resolve_ms + c.resolve_ms,
        resolved_by_agent = d.resolved_by_agent + c.resolved_by_agent
    from (select s.team_id, s.day, s.severity, s.service, sum(s.opened) as opened,
                 sum(s.acknowledged) as acknowledged, sum(s.ack_ms) as ack_ms, sum(s.resolved) as resolved,
                 sum(s.resolve_ms) as resolve_ms, sum(s.resolved_by_agent) as resolved_by_agent
          from old_rows o, incident_day_share(o, -1) s
          group by 1, 2, 3, 4 order by 1, 2, 3, 4) c
    where (d.team_id, d.day, d.severity, d.service) = (c.team_id, c.day, c.severity, c.service);
    return null;
end
$$;

create trigger incident_days_on_insert after insert on incidents
    referencing new table as new_rows for each statement execute function incident_days_opened();
create trigger incident_days_on_update after update on incidents for each row
    when ((old.team_id, old.first_seen_at, old.severity, old.service, old.acknowledged_at, old.resolved_at,
           old.resolved_by)
          is distinct from
          (new.team_id, new.first_seen_at, new.severity, new.service, new.acknowledged_at, new.resolved_at,
           new.resolved_by))
    execute function incident_days_changed();
create trigger incident_days_on_delete after delete on incidents
    referencing old table as old_rows for each statement execute function incident_days_deleted();

create function alert_days_apply() returns trigger language plpgsql as $$
begin
    insert into alert_days as d (team_id, day, alerts)
    select team_id, (received_at at time zone 'UTC')::date, count(*) from new_rows group by 1, 2 order by 1, 2
    on conflict (team_id, day) do update set alerts = d.alerts + excluded.alerts;
    return null;
end
$$;

create trigger alert_days_on_insert after insert on alerts
    referencing new table as new_rows for each statement execute function alert_days_apply();

-- What is already there, a team's day at a time.
select incident_days_add(array_agg(incident_day_share(i, 1)))
from incidents i group by i.team_id, (i.first_seen_at at time zone 'UTC')::date;
insert into alert_days
select team_id, (received_at at time zone 'UTC')::date, count(*) from alerts group by 1, 2;

-- The open incidents by severity (the dashboard's first figure) from this index alone:
-- the index that keeps one open incident per key carries each one's severity.
drop index incidents_open_by_dedup_key;
create unique index incidents_open_by_dedup_key on incidents (team_id, dedup_key) include (severity)
    where status <> 'resolved';
