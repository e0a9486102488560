-- The PostgreSQL extensions DreamOps relies on.
--
-- citext: case-insensitive text, so that an email address is unique whatever its
-- capitalisation ("Ana@Example.com" and "ana@example.com" are one account) without
-- lower() in every query and index. It is a trusted extension since PostgreSQL 13,
-- so a database owner may create it without superuser rights (managed databases).
create extension if not exists citext;
