-- One job runner (app/src/server/jobs.rs) runs every queue the same way, so every queue
-- table has the runner's columns: `run_after` (when a waiting job is due), `leased_by`
-- and `lease_until` (who holds it, until when), `attempts`, `last_error` and
-- `finished_at`. Remediation actions gain a due time and an error; outbound calls learn
-- who holds them, so that a worker whose lease ran out cannot record over the next one's.
alter table remediation_actions
    add column run_after timestamptz not null default now(),
    add column last_error text;
update remediation_actions set run_after = created_at;
drop index remediation_ready;
create index remediation_ready on remediation_actions (run_after) where state in ('intended', 'executing');

alter table outbound_calls add column leased_by text;
