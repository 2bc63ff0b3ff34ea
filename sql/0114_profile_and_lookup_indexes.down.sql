-- platform-data:no-transaction
-- Reverts 0114 (usernames are then not unique until 0114 runs again; the lists scan).
DROP INDEX CONCURRENTLY IF EXISTS users_username_key;
DROP INDEX CONCURRENTLY IF EXISTS users_last_login_at_idx;
DROP INDEX CONCURRENTLY IF EXISTS users_status_idx;
DROP INDEX CONCURRENTLY IF EXISTS organizations_tier_idx;
