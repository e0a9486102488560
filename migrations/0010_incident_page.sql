-- The incident page and the dashboard.
--
-- pg_trgm: "similar title" for related incidents (trigram similarity). A trusted
-- extension since PostgreSQL 13, like citext. No trigram index: related incidents are
-- looked for among the team's latest incidents only, which the activity index finds.
create extension if not exists pg_trgm;
