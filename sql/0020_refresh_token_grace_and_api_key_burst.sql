-- 0020 refresh-token grace window, API-key burst
-- Inputs: run by the owner after 0004. Adds:
--   * refresh_tokens.replacement_token_encrypted: the child token of a rotation,
--     SecretBox-encrypted (AAD `refresh_tokens:<id>:replacement_token_encrypted`),
--     kept only so the loser of two concurrent refreshes of one token can be
--     handed the winner's token inside the reuse grace window
--     (config auth.refreshReuseGraceSeconds). Cleared once the window has
--     passed (next rotation in the family, or RefreshTokenRepository.purgeGraceSecrets()).
--   * api_keys.rate_limit_burst: optional burst allowance next to the per-minute rate.
-- Errors: none expected; check_violation (mapped to ConflictError) when a
--   replacement ciphertext is written for a token that was not rotated.

ALTER TABLE refresh_tokens ADD COLUMN replacement_token_encrypted bytea;
ALTER TABLE refresh_tokens ADD CONSTRAINT refresh_tokens_replacement_requires_rotation
  CHECK (replacement_token_encrypted IS NULL OR rotated_at IS NOT NULL);
-- Finds the ciphertexts the purge must clear without scanning the table.
CREATE INDEX refresh_tokens_grace_secret_idx ON refresh_tokens (rotated_at)
  WHERE replacement_token_encrypted IS NOT NULL;

ALTER TABLE api_keys ADD COLUMN rate_limit_burst integer;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_rate_limit_burst_range
  CHECK (rate_limit_burst BETWEEN 1 AND 1000000);
