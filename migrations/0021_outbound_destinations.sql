-- The deliverer counts the calls in flight to each destination (a team's Slack webhook,
-- a team's PagerDuty account) before it takes another.
create index outbound_calls_in_flight on outbound_calls (team_id, target) where state = 'running';
