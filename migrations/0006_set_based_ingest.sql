-- Ingestion applies a batch with a few set-based statements, whatever its size.
--
-- Applying alerts one by one ran six to eight statements per alert, and their start-up
-- and tear-down cost more than the rows they wrote. Now each statement handles every
-- alert of the batch at once: one upsert opens or counts the incidents, one update
-- acknowledges or resolves, one insert writes the timeline, one the alerts.
--
-- Rules (unchanged; see app/src/server/ingest/mod.rs): in batch order, a trigger opens
-- an incident or counts another occurrence of the open one with its dedup key; an
-- acknowledge or resolve changes the open incident with the key; a note goes to the
-- open incident with the key, else the last resolved one. A batch may hold several
-- alerts for one key (a trigger and its resolution, say): it is applied in rounds, each
-- a run of consecutive alerts in which no key repeats, so that within a round no two
-- alerts touch one incident, and every round sees what the earlier ones did.
--
-- Quota: the new incidents of a round are granted analysis in batch order, as far as
-- the team's remaining quota goes (grant_alerts), and the rest are held.

alter table alert_usage add column last_granted integer not null default 0;

-- Grants up to p_wanted alerts of the team's current period, as many as remain;
-- returns how many. Unlimited plans grant all and touch no row; an exhausted quota is
-- refused without a lock (a committed count never shrinks within a period); otherwise
-- one upsert of the usage row, under its lock, so that concurrent grants give exactly
-- the remaining quota. last_granted records how many that upsert granted (the row's
-- earlier value is not visible to the statement that changes it).
create function grant_alerts(p_team uuid, p_wanted integer)
returns integer
language plpgsql as $$
declare
    v_limit integer;
    v_start timestamptz;
    v_granted integer;
begin
    select q.alert_limit, q.period_start into v_limit, v_start from quota_period(p_team) q;
    if v_limit is null then
        return p_wanted;
    end if;
    if exists (select 1 from alert_usage where team_id = p_team and period_start = v_start and used >= v_limit) then
        return 0;
    end if;
    insert into alert_usage as u (team_id, period_start, used, last_granted)
    values (p_team, v_start, least(p_wanted, v_limit), least(p_wanted, v_limit))
    on conflict (team_id, period_start) do update
    set used = least(v_limit, u.used + excluded.used),
        last_granted = least(v_limit, u.used + excluded.used) - u.used
    returning u.last_granted into v_granted;
    return v_granted;
end
$$;

-- The one-alert grant (releasing held incidents) is now one case of grant_alerts.
create or replace function grant_alert(p_team uuid)
returns boolean
language sql as $$
    select grant_alerts(p_team, 1) = 1
$$;

drop function ingest_alerts(uuid[], text[], text[], text[], bytea[], text[], text[], text[], text[], text[],
                            text[], text[], jsonb[], text[], text[]);
drop function ingest_alert(uuid, text, text, text, bytea, text, text, text, text, text, text, text, jsonb, text, text);

-- Applies alerts in order (element n of every array is alert n), in the caller's
-- transaction; returns each alert's result with its place in the batch (seq, from 1).
-- outcome: duplicate | opened | repeated | acknowledged | resolved | annotated |
-- no_open_incident. p_label names the source for the timeline; p_note is an
-- annotation's text.
--
-- Plans are kept (planning these statements costs more than running them), and made
-- without sequential scans or hash and merge joins: the tables start empty, and a plan
-- made for an empty table would otherwise read the whole table forever after; every
-- lookup here is a few index probes per alert.
create function ingest_alerts(
    p_team uuid[], p_source text[], p_label text[], p_delivery_id text[], p_raw bytea[],
    p_action text[], p_dedup_key text[], p_title text[], p_description text[], p_severity text[],
    p_service text[], p_external_url text[], p_details jsonb[], p_actor text[], p_note text[]
)
returns table (seq integer, outcome text, incident_id uuid, over_quota boolean)
language plpgsql
set enable_seqscan = off
set enable_hashjoin = off
set enable_mergejoin = off
as $$
#variable_conflict use_column
declare
    v_rounds integer := 0;
    v_round_of integer[] := '{}';
    v_round_keys text[] := '{}';
    v_key text;
    v_team uuid;
    v_opened integer;
    v_granted integer;
    v_seq integer[] := '{}';
    v_outcome text[] := '{}';
    v_incident uuid[] := '{}';
    v_held integer[] := '{}';
    r_seq integer[];
    r_outcome text[];
    r_incident uuid[];
    r_held integer[];
begin
    -- A new round wherever a key repeats within the current one.
    for n in 1 .. coalesce(cardinality(p_team), 0) loop
        v_key := p_team[n]::text || '/' || p_dedup_key[n];
        if v_rounds = 0 or v_key = any (v_round_keys) then
            v_rounds := v_rounds + 1;
            v_round_keys := '{}';
        end if;
        v_round_keys := v_round_keys || v_key;
        v_round_of := v_round_of || v_rounds;
    end loop;

    for v_round in 1 .. v_rounds loop
        -- The round's effects, timeline entries and alerts, in one statement.
        with input as materialized (
            select u.*, coalesce(delivery_alert_id(u.team, u.source, u.delivery_id), gen_random_uuid()) as alert_id
            from (select a.team, a.source, a.label, a.delivery_id, a.raw, a.action, a.dedup_key, a.title,
                         a.description, a.severity, a.service, a.external_url, a.details, a.actor, a.note,
                         a.seq::integer as seq
                  from unnest(p_team, p_source, p_label, p_delivery_id, p_raw, p_action, p_dedup_key, p_title,
                              p_description, p_severity, p_service, p_external_url, p_details, p_actor, p_note,
                              v_round_of)
                       with ordinality
                       as a (team, source, label, delivery_id, raw, action, dedup_key, title, description, severity,
                             service, external_url, details, actor, note, round, seq)
                  where a.round = v_round) u
        ),
        -- Not seen before: a named delivery is stored under an id derived from its name.
        fresh as materialized (
            select i.* from input i
            where i.delivery_id is null or not exists (select 1 from alerts a where a.id = i.alert_id)
        ),
        triggered as (
            insert into incidents as inc (id, team_id, title, description, severity, status, service, source,
                                          dedup_key, analysis, previous_incident_id, external_url, details)
            select gen_random_uuid(), f.team, f.title, f.description, f.severity, 'triggered', f.service, f.source,
                   f.dedup_key, 'eligible',
                   (select r.id from incidents r where r.team_id = f.team and r.dedup_key = f.dedup_key
                      and r.status = 'resolved' order by r.resolved_at desc limit 1),
                   f.external_url, f.details
            from fresh f
            where f.action = 'trigger'
            order by f.seq
            on conflict (team_id, dedup_key) where status <> 'resolved'
            do update set occurrences = inc.occurrences + 1, last_seen_at = now()
            returning inc.id, inc.team_id, inc.dedup_key, inc.xmax = 0 as inserted, inc.occurrences
        ),
        changed as (
            update incidents inc
            set status = case f.action when 'resolve' then 'resolved' else 'acknowledged' end,
                acknowledged_at = case f.action when 'acknowledge' then coalesce(inc.acknowledged_at, now())
                                  else inc.acknowledged_at end,
                acknowledged_by = case f.action when 'acknowledge' then coalesce(inc.acknowledged_by, f.actor)
                                  else inc.acknowledged_by end,
                resolved_at = case f.action when 'resolve' then now() else inc.resolved_at end,
                resolved_by = case f.action when 'resolve' then f.actor else inc.resolved_by end,
                last_seen_at = now()
            from fresh f
            where f.action in ('acknowledge', 'resolve')
              and inc.team_id = f.team and inc.dedup_key = f.dedup_key and inc.status <> 'resolved'
            returning f.seq, inc.id
        ),
        -- A note goes to the open incident with the key, else the last resolved one: two
        -- index lookups (one query ordering the key's incidents by "is open" would read
        -- every incident of the team).
        noted as materialized (
            select f.seq, coalesce(
                (select i.id from incidents i
                 where i.team_id = f.team and i.dedup_key = f.dedup_key and i.status <> 'resolved'),
                (select i.id from incidents i
                 where i.team_id = f.team and i.dedup_key = f.dedup_key and i.status = 'resolved'
                 order by i.resolved_at desc limit 1)) as id
            from fresh f
            where f.action = 'annotate'
        ),
        results as materialized (
            select f.seq, case when t.inserted then 'opened' else 'repeated' end as outcome, t.id as incident_id,
                   t.occurrences
            from fresh f
            join triggered t on t.team_id = f.team and t.dedup_key = f.dedup_key
            union all
            select f.seq,
                   case when c.id is null then 'no_open_incident'
                        when f.action = 'acknowledge' then 'acknowledged' else 'resolved' end,
                   c.id, null
            from fresh f left join changed c on c.seq = f.seq
            where f.action in ('acknowledge', 'resolve')
            union all
            select n.seq, case when n.id is null then 'no_open_incident' else 'annotated' end, n.id, null
            from noted n
        ),
        timeline as (
            insert into timeline_entries (team_id, incident_id, kind, actor, message)
            select f.team, r.incident_id,
                   case r.outcome when 'opened' then 'alert.received' when 'repeated' then 'alert.repeated'
                                  when 'acknowledged' then 'status.acknowledged'
                                  when 'resolved' then 'status.resolved' else 'note' end,
                   f.actor,
                   case r.outcome
                       when 'opened' then 'Alert received from ' || f.label || ': ' || f.title
                       when 'repeated' then 'Alert received again from ' || f.label
                                            || ' (occurrence ' || r.occurrences || ')'
                       when 'acknowledged' then 'Acknowledged by ' || f.actor
                       when 'resolved' then 'Resolved by ' || f.actor
                       else f.note end
            from results r join fresh f on f.seq = r.seq
            where r.incident_id is not null
            order by r.seq
        ),
        stored as (
            insert into alerts (id, team_id, source, delivery_id, raw_body, parse_status, event_action, incident_id)
            select f.alert_id, f.team, f.source, f.delivery_id, f.raw, 'parsed', f.action, r.incident_id
            from results r join fresh f on f.seq = r.seq
        ),
        answers as (
            select r.seq, r.outcome, r.incident_id from results r
            union all
            select i.seq, 'duplicate', null from input i where not exists (select 1 from fresh f where f.seq = i.seq)
        )
        select array_agg(a.seq), array_agg(a.outcome), array_agg(a.incident_id)
        into r_seq, r_outcome, r_incident
        from answers a;

        -- Quota for the incidents the round opened, in batch order; the rest are held,
        -- and their timelines say why.
        for v_team, v_opened in
            select p_team[o.seq], count(*)::integer from unnest(r_seq, r_outcome) as o (seq, outcome)
            where o.outcome = 'opened' group by 1 order by 1
        loop
            v_granted := grant_alerts(v_team, v_opened);
            if v_granted < v_opened then
                r_held := array(
                    select o.seq from unnest(r_seq, r_outcome) as o (seq, outcome)
                    where o.outcome = 'opened' and p_team[o.seq] = v_team
                    order by o.seq offset v_granted);
                with held as (
                    update incidents set analysis = 'over_quota'
                    where id = any (array(select o.incident_id from unnest(r_seq, r_incident) as o (seq, incident_id)
                                          where o.seq = any (r_held)))
                    returning id, team_id, first_seen_at
                )
                insert into timeline_entries (team_id, incident_id, kind, actor, message)
                select h.team_id, h.id, 'quota.exceeded', 'DreamOps',
                       'Over quota — not analysed. Upgrade the plan, or wait for the next period.'
                from held h order by h.first_seen_at, h.id;
                v_held := v_held || r_held;
            end if;
        end loop;

        v_seq := v_seq || r_seq;
        v_outcome := v_outcome || r_outcome;
        v_incident := v_incident || r_incident;
    end loop;

    return query
        select a.seq, a.outcome, a.incident_id, a.seq = any (v_held)
        from unnest(v_seq, v_outcome, v_incident) as a (seq, outcome, incident_id)
        order by a.seq;
end
$$;
