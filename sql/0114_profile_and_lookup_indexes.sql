-- platform-data:no-transaction
-- 0114 the username's unique index and the indexes operators' lists need (built CONCURRENTLY: users and
-- organizations are read on every sign-in, and a plain CREATE INDEX would block their writes while it builds)
-- Inputs: run by the owner after 0113, outside a transaction under the migrator's session lock.
-- users_username_key: usernames are unique case-insensitively (citext, 0113); a ConflictError names it.
-- users_last_login_at_idx: "who has not signed in since …" (dormant accounts), live users only.
-- users_status_idx: partial, the rare states only (pending_verification, suspended, locked, deleted) —
--   what an operator lists; 'active' is nearly every row, where the planner scans the table anyway.
-- organizations_tier_idx: partial, paying tiers of live organizations (billing lists); 'free' is the bulk.
-- Errors: unique_violation if duplicate usernames exist (none can: the column is new in 0113); a half-built
--   index left by a crash is INVALID, dropped by the down file's IF EXISTS and rebuilt.

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_username_key ON users (username);
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_last_login_at_idx ON users (last_login_at) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_status_idx ON users (status) WHERE status <> 'active';
CREATE INDEX CONCURRENTLY IF NOT EXISTS organizations_tier_idx ON organizations (tier) WHERE tier <> 'free' AND deleted_at IS NULL;
