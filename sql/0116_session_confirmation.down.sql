-- platform-data:no-transaction
-- Reverts 0116. Unconfirmed sessions keep their short expiry (they end with their window, as before the revert).
DROP INDEX CONCURRENTLY IF EXISTS sessions_unconfirmed_idx;
DROP FUNCTION IF EXISTS platform_auth.confirm_session_of_refresh_token(bytea);
DROP FUNCTION IF EXISTS platform_auth.confirm_session(uuid);
REVOKE UPDATE (confirmed_at, expires_at) ON sessions FROM platform_auth;
ALTER TABLE sessions DROP COLUMN IF EXISTS absolute_expires_at;
ALTER TABLE sessions DROP COLUMN IF EXISTS confirmed_at;
