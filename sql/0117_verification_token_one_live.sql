-- 0117 At most one live verification token per user and purpose, enforced by the database
-- Inputs: run by the owner after 0088.
--   VerificationTokenRepository.create used to delete the user's unconsumed tokens of the purpose and
--   then insert the new one: two concurrent requests (two magic links, two reset requests) could both
--   delete nothing the other had not committed yet and both insert, leaving two working links. The
--   unique partial index makes "one unconsumed token per (user_id, purpose)" a constraint, and create
--   becomes one INSERT … ON CONFLICT (user_id, purpose) WHERE consumed_at IS NULL DO UPDATE, which
--   PostgreSQL resolves atomically under concurrency (the later writer replaces the earlier token).
--   Duplicates a past race left behind are deleted first, keeping each pair's newest token (the one
--   the latest email carried); the owner lifts FORCE ROW LEVEL SECURITY for that one statement, inside
--   this migration's transaction, because the row policies would hide other users' rows from it.
-- Errors: none expected; unique_violation cannot occur after the clean-up (same transaction, table lock).

LOCK TABLE verification_tokens IN SHARE ROW EXCLUSIVE MODE;

ALTER TABLE verification_tokens NO FORCE ROW LEVEL SECURITY;
DELETE FROM verification_tokens v
USING verification_tokens newer
WHERE v.consumed_at IS NULL
  AND newer.consumed_at IS NULL
  AND newer.user_id = v.user_id
  AND newer.purpose = v.purpose
  AND (newer.created_at, newer.id) > (v.created_at, v.id);
ALTER TABLE verification_tokens FORCE ROW LEVEL SECURITY;

DROP INDEX verification_tokens_user_purpose_idx;
CREATE UNIQUE INDEX verification_tokens_one_live_key ON verification_tokens (user_id, purpose) WHERE consumed_at IS NULL;
