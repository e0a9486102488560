-- Kubernetes clusters: each team's saved kubeconfigs and their remediation policy.
--
-- credentials_ciphertext holds the kubeconfig reduced to the chosen context (its
-- cluster, user and credentials), sealed with AES-256-GCM under the server's key (the
-- first byte names the key, for rotation). Only what people may see is kept in clear:
-- the server's URL and the context and user names.
create table clusters (
    id uuid primary key,
    team_id uuid not null references teams (id) on delete cascade,
    name text not null check (length(name) between 1 and 100),
    server_url text not null,
    context text not null,
    user_name text,
    namespace text not null default 'default',
    credentials_ciphertext bytea not null,
    created_at timestamptz not null default now(),
    created_by uuid references users (id) on delete set null,
    -- The remediation policy (used by the remediation issue): read_only by default.
    remediation_mode text not null default 'read_only'
        check (remediation_mode in ('read_only', 'approve', 'autonomous')),
    max_autonomous_risk text not null default 'low' check (max_autonomous_risk in ('low', 'medium', 'high')),
    excluded_namespaces text[] not null default '{kube-system}',
    destructive_allowed boolean not null default false,
    unique (team_id, name)
);
create index clusters_by_team on clusters (team_id, created_at);
