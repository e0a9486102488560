-- Notion (app/src/server/notion/): a team's integration token, sealed like every stored
-- credential, with its workspace; the database runbooks are imported from (kept in sync
-- by a periodic job) and the page post-mortems are exported under; how the last sync
-- went. Runbooks imported from Notion name their page, and are edited there.
create table notion_connections (
    team_id uuid primary key references teams (id) on delete cascade,
    token bytea not null,
    workspace text not null,
    runbooks_database text,
    postmortems_page text,
    -- The sync: claimed by one instance at a time (sync_started_at), then recorded.
    sync_started_at timestamptz,
    synced_at timestamptz,
    sync_error text,
    synced_runbooks integer not null default 0,
    updated_at timestamptz not null default now()
);

alter table runbooks
    add column notion_page text,
    add column notion_url text,
    add column notion_edited_at timestamptz;
create unique index runbooks_by_notion_page on runbooks (team_id, notion_page) where notion_page is not null;

alter table postmortems
    add column notion_url text;
