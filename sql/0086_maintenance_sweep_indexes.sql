-- platform-data:no-transaction
-- 0086 Indexes the maintenance sweeps search by (built CONCURRENTLY: no write lock on large tables)
-- Inputs: run by the owner after 0085, outside a transaction under the migrator's session lock.
-- Each sweep deletes rows whose end — the earlier of revocation/consumption/answer
-- and expiry — lies before a cut-off, in batches of LIMIT n; without these a
-- batch would scan the whole table when old rows are rare. LEAST ignores NULLs.
-- Errors: none expected; a half-built index left by a crash is INVALID and
-- dropped by the IF EXISTS in the down file, then rebuilt.

CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_ended_idx ON sessions ((least(revoked_at, expires_at)));
CREATE INDEX CONCURRENTLY IF NOT EXISTS refresh_tokens_ended_idx ON refresh_tokens ((least(revoked_at, expires_at)));
CREATE INDEX CONCURRENTLY IF NOT EXISTS refresh_tokens_rotated_idx ON refresh_tokens (rotated_at) WHERE rotated_at IS NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS verification_tokens_ended_idx ON verification_tokens ((least(consumed_at, expires_at)));
CREATE INDEX CONCURRENTLY IF NOT EXISTS mfa_challenges_ended_idx ON mfa_challenges ((least(consumed_at, expires_at)));
CREATE INDEX CONCURRENTLY IF NOT EXISTS membership_invitations_ended_idx ON membership_invitations ((least(answered_at, expires_at)));
