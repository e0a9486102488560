-- Raw deliveries are kept as long as the team's plan says; after it their bodies are
-- removed, and the alert rows stay (counts, replay protection, the incident's history).
alter table plans add column raw_retention_days integer not null default 30 check (raw_retention_days > 0);
update plans set raw_retention_days = case id
    when 'free' then 7 when 'starter' then 30 when 'pro' then 90 when 'enterprise' then 365 else 30 end;

-- When the body was removed (null: still kept).
alter table alerts add column raw_removed_at timestamptz;

-- Every body received before this time has been removed: the next pass starts there.
alter table teams add column raw_removed_before timestamptz not null default 'epoch';
