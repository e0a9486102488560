-- The keys that seal this database's stored credentials, by the id written in front of
-- every ciphertext: each key seals a known text here the first time an instance starts
-- with it. An instance whose key under a known id cannot open that text is refused at
-- start-up (every instance must share DREAMOPS_SECRET_KEY), instead of sealing with a
-- key of its own what no other instance can open.
create table secret_keys (
    id smallint primary key check (id between 1 and 255),
    check_sealed bytea not null,
    created_at timestamptz not null default now()
);
