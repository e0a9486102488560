-- The incident list pages by last activity, newest first, with the id breaking ties:
-- (last_seen_at, id) < (cursor) ordered by both descending. An index ordered the same
-- way on both columns serves every page, at any depth, with one descent.
drop index incidents_by_team_activity;
create index incidents_by_team_activity on incidents (team_id, last_seen_at desc, id desc);
drop index incidents_by_team_status;
create index incidents_by_team_status on incidents (team_id, status, last_seen_at desc, id desc);
