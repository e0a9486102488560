-- Every successful sign-in deletes the attempts older than the throttle looks at; this
-- index lets it find them without reading the whole table (which a guessing flood fills).
create index login_attempts_by_time on login_attempts (attempted_at);
