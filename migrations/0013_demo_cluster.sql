-- The demo cluster: a simulated Kubernetes API server built into DreamOps, one per team
-- that asks for it, its state kept here so that every instance serves the same cluster.
--
-- A demo cluster is an ordinary row of `clusters` (demo = true) whose kubeconfig points
-- at this instance's own `/demo-k8s/<cluster id>` and carries a bearer token; the token's
-- digest finds the cluster again when a client (the agent, kubectl) calls.
alter table clusters add column demo boolean not null default false;

create table demo_clusters (
    cluster_id uuid primary key references clusters (id) on delete cascade,
    team_id uuid not null references teams (id) on delete cascade,
    token_hash bytea not null unique,
    -- The cluster's resourceVersion counter: every stored change takes the next value.
    resource_version bigint not null default 0
);

-- Every object of the simulation as the API serves it (its JSON, resourceVersion
-- included). `namespace` is '' for cluster-scoped objects (nodes, namespaces).
create table demo_objects (
    cluster_id uuid not null references demo_clusters (cluster_id) on delete cascade,
    resource text not null,
    namespace text not null,
    name text not null,
    object jsonb not null,
    primary key (cluster_id, resource, namespace, name)
);

-- What clients asked of the demo cluster, newest kept: proof of what was (not) written.
create table demo_requests (
    id bigint generated always as identity primary key,
    cluster_id uuid not null references demo_clusters (cluster_id) on delete cascade,
    at timestamptz not null default now(),
    method text not null,
    path text not null,
    query text not null default '',
    status smallint not null
);
create index demo_requests_by_cluster on demo_requests (cluster_id, id);
