-- GitHub App installations (app/src/server/github/app.rs): a team connects either a
-- token or an app installation. For an installation, `token` holds the app's private key
-- (sealed alike), with the app's id and the installation's.
alter table github_connections
    add column kind text not null default 'token' check (kind in ('token', 'app')),
    add column app_id text,
    add column installation_id bigint,
    add constraint github_connections_app check (kind = 'token' or (app_id is not null and installation_id is not null));
