-- Reverts 0115. Open password-change tickets are deleted: those users sign in again.
DELETE FROM mfa_challenges WHERE purpose = 'password_change';
ALTER TABLE mfa_challenges DROP COLUMN password_change_due, DROP COLUMN mfa_verified;
ALTER TABLE mfa_challenges DROP CONSTRAINT mfa_challenges_purpose_check;
ALTER TABLE mfa_challenges ADD CONSTRAINT mfa_challenges_purpose_check CHECK (purpose IN ('sign_in', 'enrollment'));
