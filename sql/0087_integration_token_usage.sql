-- 0087 Integration tokens: usage, type, issue time, refresh outcome; index on the integration
-- Inputs: run by the owner after 0086.
--   token_type:            the provider's token type ("Bearer" …), as the application saved or the refresher returned it
--   issued_at:             when the current access token was issued (save or refresh)
--   last_used_at / last_used_ip / last_used_user_agent: the last read through IntegrationTokenRepository.get,
--                          with the reading client's address and user agent when the application passed them
--   refreshed_at:          the last successful refresh on read
--   refresh_failed_at / refresh_error: the last failed refresh (cleared by the next success); the error is
--                          the package's own message (never a token)
-- integration_tokens_org_integration_idx serves "every grant of integration X in organization Y".
-- Errors: none expected.

ALTER TABLE integration_tokens
  ADD COLUMN token_type text CHECK (length(token_type) BETWEEN 1 AND 50),
  ADD COLUMN issued_at timestamptz,
  ADD COLUMN last_used_at timestamptz,
  ADD COLUMN last_used_ip inet,
  ADD COLUMN last_used_user_agent text CHECK (length(last_used_user_agent) <= 1000),
  ADD COLUMN refreshed_at timestamptz,
  ADD COLUMN refresh_failed_at timestamptz,
  ADD COLUMN refresh_error text CHECK (length(refresh_error) <= 500);
UPDATE integration_tokens SET issued_at = updated_at WHERE issued_at IS NULL;
CREATE INDEX integration_tokens_org_integration_idx ON integration_tokens (organization_id, integration);
