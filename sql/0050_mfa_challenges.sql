-- 0050 MFA sign-in challenges
-- Inputs: run by the owner after 0041.
-- A password sign-in of a user with TOTP enabled (or in an organization that
-- requires MFA) ends in a challenge instead of a session: a random 256-bit
-- token, returned once, of which only the SHA-256 is stored here. The client
-- presents it with a TOTP or recovery code (purpose `sign_in`), or with the
-- first code of a new enrolment (purpose `enrollment`) to finish signing in.
--   purpose:          sign_in | enrollment
--   organization_id:  the organization the sign-in was for (the session's)
--   failed_attempts:  wrong codes against this challenge; at the flow's limit
--                     the challenge is consumed (dead) — the user signs in again
--   expires_at:       5 minutes after creation (the flow decides)
--   consumed_at:      set once, by one UPDATE … WHERE consumed_at IS NULL
-- Why Postgres and not Redis: one more source of truth is not needed, but the
-- attempt counter and the single use must be exact under concurrency, which
-- the row gives with one UPDATE each; a challenge is a few hundred bytes and
-- expired rows are deleted by `deleteExpiredOlderThan`.
-- RLS: owner policy by user (withUserScope creates); consumption by token hash
-- runs on the owner pool, where the hash is the credential.

CREATE TABLE mfa_challenges (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  purpose          text NOT NULL CONSTRAINT mfa_challenges_purpose_check CHECK (purpose IN ('sign_in', 'enrollment')),
  token_hash       bytea NOT NULL CHECK (length(token_hash) = 32),
  failed_attempts  integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
  expires_at       timestamptz NOT NULL,
  consumed_at      timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT mfa_challenges_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX mfa_challenges_user_idx ON mfa_challenges (user_id) WHERE consumed_at IS NULL;
CREATE INDEX mfa_challenges_organization_idx ON mfa_challenges (organization_id);
CREATE INDEX mfa_challenges_expires_at_idx ON mfa_challenges (expires_at);

ALTER TABLE mfa_challenges ENABLE ROW LEVEL SECURITY;
ALTER TABLE mfa_challenges FORCE ROW LEVEL SECURITY;
CREATE POLICY mfa_challenges_owner ON mfa_challenges
  USING (user_id = platform_current_user_id()) WITH CHECK (user_id = platform_current_user_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON mfa_challenges TO platform_app;
