-- Faster ingestion: less work per alert, and many alerts per transaction.
--
-- - An alert's row is written once, after its effect, with the incident it joined
--   (writing it first and updating it afterwards cost as much as the insert again).
--   A redelivery is recognised up front by its id (delivery_alert_id); two copies of
--   one delivery applied at the same moment meet at the primary key, and the later
--   one's transaction fails with unique_violation, which the server reports as a
--   duplicate — no effect twice.
-- - Indexes that no query uses are gone, and the index that finds the last resolved
--   incident with a dedup key only holds resolved incidents.
-- - An annotation finds its incident by index (it used to sort all of the team's
--   incidents).
-- - ingest_alerts applies a batch, in order, in the caller's transaction: the server
--   commits alerts from concurrent deliveries together (group commit).

drop index alerts_by_team_time;
-- A delivery the sender names (PagerDuty's webhook or event id) is stored under an id
-- derived from that name, so that recognising a redelivery is a primary-key lookup,
-- whatever the planner knows of the table.
drop index alerts_by_delivery;
drop index incidents_by_dedup_key;
create index incidents_resolved_by_dedup_key on incidents (team_id, dedup_key, resolved_at desc)
    where status = 'resolved';

-- The id of the alert a named delivery is stored as: the first 16 bytes of SHA-256
-- over team, source and the sender's delivery id. Random for unnamed deliveries.
create function delivery_alert_id(p_team uuid, p_source text, p_delivery_id text)
returns uuid
language sql immutable strict as $$
    select encode(substring(sha256(convert_to(p_team::text || '/' || p_source || '/' || p_delivery_id, 'UTF8'))
                            from 1 for 16), 'hex')::uuid
$$;
update alerts set id = delivery_alert_id(team_id, source, delivery_id) where delivery_id is not null;

-- Stores one alert and applies it (see app/src/server/ingest/mod.rs for the rules).
-- outcome: duplicate | opened | repeated | acknowledged | resolved | annotated |
-- no_open_incident. p_label names the source for the timeline; p_note is an
-- annotation's text.
create or replace function ingest_alert(
    p_team uuid, p_source text, p_label text, p_delivery_id text, p_raw bytea,
    p_action text, p_dedup_key text, p_title text, p_description text, p_severity text,
    p_service text, p_external_url text, p_details jsonb, p_actor text, p_note text
)
returns table (outcome text, incident_id uuid, over_quota boolean)
language plpgsql as $$
declare
    v_alert uuid := coalesce(delivery_alert_id(p_team, p_source, p_delivery_id), gen_random_uuid());
    v_incident uuid;
    v_inserted boolean;
    v_occurrences integer;
    v_granted boolean := true;
    v_outcome text;
begin
    if p_delivery_id is not null and exists (select 1 from alerts a where a.id = v_alert) then
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
            v_granted := grant_alert(p_team);
            if v_granted then
                insert into timeline_entries (team_id, incident_id, kind, actor, message)
                values (p_team, v_incident, 'alert.received', p_actor,
                        'Alert received from ' || p_label || ': ' || p_title);
            else
                update incidents set analysis = 'over_quota' where id = v_incident;
                insert into timeline_entries (team_id, incident_id, kind, actor, message)
                values (p_team, v_incident, 'alert.received', p_actor,
                        'Alert received from ' || p_label || ': ' || p_title),
                       (p_team, v_incident, 'quota.exceeded', 'DreamOps',
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
            -- The open incident with the key, else the last resolved one: two index
            -- lookups (one query ordering all of the team's incidents by "is open"
            -- would read every incident of the team).
            select id into v_incident from incidents
            where team_id = p_team and dedup_key = p_dedup_key and status <> 'resolved';
            if v_incident is null then
                select id into v_incident from incidents
                where team_id = p_team and dedup_key = p_dedup_key and status = 'resolved'
                order by resolved_at desc limit 1;
            end if;
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

    insert into alerts (id, team_id, source, delivery_id, raw_body, parse_status, event_action, incident_id)
    values (v_alert, p_team, p_source, p_delivery_id, p_raw, 'parsed', p_action, v_incident);
    return query select v_outcome, v_incident, not v_granted;
end
$$;

-- Applies alerts in order (element n of every array is alert n), in the caller's
-- transaction; returns each alert's result with its place in the batch (seq, from 1).
create function ingest_alerts(
    p_team uuid[], p_source text[], p_label text[], p_delivery_id text[], p_raw bytea[],
    p_action text[], p_dedup_key text[], p_title text[], p_description text[], p_severity text[],
    p_service text[], p_external_url text[], p_details jsonb[], p_actor text[], p_note text[]
)
returns table (seq integer, outcome text, incident_id uuid, over_quota boolean)
language plpgsql as $$
begin
    for n in 1 .. coalesce(array_length(p_team, 1), 0) loop
        return query
            select n, r.outcome, r.incident_id, r.over_quota
            from ingest_alert(p_team[n], p_source[n], p_label[n], p_delivery_id[n], p_raw[n],
                              p_action[n], p_dedup_key[n], p_title[n], p_description[n], p_severity[n],
                              p_service[n], p_external_url[n], p_details[n], p_actor[n], p_note[n]) r;
    end loop;
end
$$;

