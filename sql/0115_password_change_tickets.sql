-- 0115 Password-change tickets: a required change finished without a session
-- Inputs: run by the owner after 0088.
-- A sign-in whose password is right but must be changed (users.must_change_password,
-- or the organization's password max age) ends in a ticket instead of a session:
-- a random 256-bit token, returned once, of which only the SHA-256 is stored — the
-- MFA challenge's row and rules (single use by one UPDATE, short expiry, the user's
-- other open challenges deleted), so it lives in mfa_challenges with its own purpose.
-- The ticket grants nothing but `PasswordChange.completeRequiredChange`.
--   purpose:               sign_in | enrollment | password_change
--   password_change_due:   on a sign_in/enrollment challenge: a password change follows
--                          the second factor (the challenge then ends in a ticket)
--   mfa_verified:          on a password_change ticket: the sign-in passed a second factor,
--                          so the session the ticket ends in carries it
-- Errors: check_violation (mapped to ConflictError) for another purpose — input is validated first.

ALTER TABLE mfa_challenges DROP CONSTRAINT mfa_challenges_purpose_check;
ALTER TABLE mfa_challenges ADD CONSTRAINT mfa_challenges_purpose_check CHECK (purpose IN ('sign_in', 'enrollment', 'password_change'));
ALTER TABLE mfa_challenges
  ADD COLUMN password_change_due boolean NOT NULL DEFAULT false,
  ADD COLUMN mfa_verified boolean NOT NULL DEFAULT false;
