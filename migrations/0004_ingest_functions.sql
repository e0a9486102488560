-- Ingestion in one round trip. Applying an alert touches several tables (the alert,
-- its incident, the timeline, the quota); done statement by statement from the server
-- that is eight round trips per alert, and ingestion throughput is bound by them. These
-- functions do the same work inside PostgreSQL, in the caller's transaction.

-- A team's plan, alert limit and current quota period: the paid subscription's period
-- while it runs, else the calendar month in UTC. The one definition of "period".
create function quota_period(p_team uuid)
returns table (plan text, alert_limit integer, period_start timestamptz, period_end timestamptz)
language sql stable as $$
    select p.name, p.monthly_alert_limit,
           case when s.paid then t.period_start else s.month_start end,
           case when s.paid then t.period_end else s.month_start + interval '1 month' end
    from teams t
    join plans p on p.id = t.plan
    cross join lateral (select
        t.plan <> 'free' and t.period_start is not null and t.period_end > now() as paid,
        date_trunc('month', now() at time zone 'utc') at time zone 'utc' as month_start) as s
    where t.id = p_team
$$;

-- Grants one alert of the team's current period if any remain. Unlimited plans always
-- grant and touch no row; an exhausted quota is refused without a lock (a committed
-- count never shrinks within a period); otherwise the usage row is incremented under
-- its lock, so that concurrent grants give exactly the remaining quota.
create function grant_alert(p_team uuid)
returns boolean
language plpgsql as $$
declare
    v_limit integer;
    v_start timestamptz;
    v_used integer;
begin
    select q.alert_limit, q.period_start into v_limit, v_start from quota_period(p_team) q;
    if v_limit is null then
        return true;
    end if;
    select used into v_used from alert_usage where team_id = p_team and period_start = v_start;
    if v_used is not null and v_used >= v_limit then
        return false;
    end if;
    insert into alert_usage (team_id, period_start, used) values (p_team, v_start, 1)
    on conflict (team_id, period_start) do update set used = alert_usage.used + 1
        where alert_usage.used < v_limit;
    return found;
end
$$;

-- Stores one alert and applies it (see app/src/server/ingest/mod.rs for the rules).
-- outcome: duplicate | opened | repeated | acknowledged | resolved | annotated |
-- no_open_incident. p_label names the source for the timeline; p_note is an
-- annotation's text.
create function ingest_alert(
    p_team uuid, p_source text, p_label text, p_delivery_id text, p_raw bytea,
    p_action text, p_dedup_key text, p_title text, p_description text, p_severity text,
    p_service text, p_external_url text, p_details jsonb, p_actor text, p_note text
)
returns table (outcome text, incident_id uuid, over_quota boolean)
language plpgsql as $$
declare
    v_alert uuid := gen_random_uuid();
    v_incident uuid;
    v_inserted boolean;
    v_occurrences integer;
    v_granted boolean := true;
    v_outcome text;
begin
    insert into alerts (id, team_id, source, delivery_id, raw_body, parse_status, event_action)
    values (v_alert, p_team, p_source, p_delivery_id, p_raw, 'parsed', p_action)
    on conflict (team_id, source, delivery_id) where delivery_id is not null do nothing;
    if not found then
        return query select 'duplicate'::text, null::uuid, false;
        return;
    end if;

    if p_action = 'trigger' then
        insert into incidents as i (id, team_id, title, description, severity, status, service, source,
                                    dedup_key, analysis, previous_incident_id, external_url, details)
        values (gen_random_uuid(), p_team, p_title, p_description, p_severity, 'triggered', p_service, p_source,
                p_dedup_key, 'eligible',
                (select r.id from incidents r where r.team_id = p_team and r.dedup_key = p_dedup_key
                   and r.status = 'resolved' order by r.resolved_at desc limit 1),
                p_external_url, p_details)
        on conflict (team_id, dedup_key) where status <> 'resolved'
        do update set occurrences = i.occurrences + 1, last_seen_at = now()
        returning i.id, (i.xmax = 0), i.occurrences into v_incident, v_inserted, v_occurrences;
        if v_inserted then
            insert into timeline_entries (team_id, incident_id, kind, actor, message)
            values (p_team, v_incident, 'alert.received', p_actor, 'Alert received from ' || p_label || ': ' || p_title);
            v_granted := grant_alert(p_team);
            if not v_granted then
                update incidents set analysis = 'over_quota' where id = v_incident;
                insert into timeline_entries (team_id, incident_id, kind, actor, message)
                values (p_team, v_incident, 'quota.exceeded', 'DreamOps',
                        'Over quota — not analysed. Upgrade the plan, or wait for the next period.');
            end if;
            v_outcome := 'opened';
        else
            insert into timeline_entries (team_id, incident_id, kind, actor, message)
            values (p_team, v_incident, 'alert.repeated', p_actor,
                    'Alert received again from ' || p_label || ' (occurrence ' || v_occurrences || ')');
            v_outcome := 'repeated';
        end if;
    else
        if p_action = 'acknowledge' then
            update incidents set status = 'acknowledged', acknowledged_at = coalesce(acknowledged_at, now()),
                   acknowledged_by = coalesce(acknowledged_by, p_actor), last_seen_at = now()
            where team_id = p_team and dedup_key = p_dedup_key and status <> 'resolved'
            returning id into v_incident;
            v_outcome := 'acknowledged';
        elsif p_action = 'resolve' then
            update incidents set status = 'resolved', resolved_at = now(), resolved_by = p_actor, last_seen_at = now()
            where team_id = p_team and dedup_key = p_dedup_key and status <> 'resolved'
            returning id into v_incident;
            v_outcome := 'resolved';
        else
            select id into v_incident from incidents
            where team_id = p_team and dedup_key = p_dedup_key
            order by (status <> 'resolved') desc, last_seen_at desc limit 1;
            v_outcome := 'annotated';
        end if;
        if v_incident is null then
            v_outcome := 'no_open_incident';
        else
            insert into timeline_entries (team_id, incident_id, kind, actor, message)
            values (p_team, v_incident,
                    case v_outcome when 'acknowledged' then 'status.acknowledged'
                                   when 'resolved' then 'status.resolved' else 'note' end,
                    p_actor,
                    case v_outcome when 'acknowledged' then 'Acknowledged by ' || p_actor
                                   when 'resolved' then 'Resolved by ' || p_actor else p_note end);
        end if;
    end if;

    update alerts set incident_id = v_incident where id = v_alert;
    return query select v_outcome, v_incident, not v_granted;
end
$$;

-- Makes a team's held (over-quota) incidents eligible for analysis, oldest first, as far
-- as its current quota allows: after an upgrade, or once a new period has begun. Safe
-- to run from several instances at once: each incident is taken under a row lock
-- (others skip it) and each grant is atomic. Returns how many were released.
create function release_held_incidents(p_team uuid)
returns integer
language plpgsql as $$
declare
    v_incident uuid;
    v_released integer := 0;
begin
    loop
        select id into v_incident from incidents
        where team_id = p_team and analysis = 'over_quota' and status <> 'resolved'
        order by first_seen_at
        limit 1
        for update skip locked;
        exit when v_incident is null or not grant_alert(p_team);
        update incidents set analysis = 'eligible' where id = v_incident;
        insert into timeline_entries (team_id, incident_id, kind, actor, message)
        values (p_team, v_incident, 'quota.released', 'DreamOps', 'Alert quota available again: eligible for analysis.');
        v_released := v_released + 1;
    end loop;
    return v_released;
end
$$;

create index incidents_held on incidents (team_id, first_seen_at) where analysis = 'over_quota';
