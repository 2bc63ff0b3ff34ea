-- platform-data:no-transaction
-- Reverts 0086 (the sweeps still work, by scanning).
DROP INDEX CONCURRENTLY IF EXISTS sessions_ended_idx;
DROP INDEX CONCURRENTLY IF EXISTS refresh_tokens_ended_idx;
DROP INDEX CONCURRENTLY IF EXISTS refresh_tokens_rotated_idx;
DROP INDEX CONCURRENTLY IF EXISTS verification_tokens_ended_idx;
DROP INDEX CONCURRENTLY IF EXISTS mfa_challenges_ended_idx;
DROP INDEX CONCURRENTLY IF EXISTS membership_invitations_ended_idx;
