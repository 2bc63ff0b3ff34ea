-- Reverts 0087. Usage and refresh history are lost; tokens stay.
DROP INDEX IF EXISTS integration_tokens_org_integration_idx;
ALTER TABLE integration_tokens
  DROP COLUMN IF EXISTS token_type, DROP COLUMN IF EXISTS issued_at, DROP COLUMN IF EXISTS last_used_at,
  DROP COLUMN IF EXISTS last_used_ip, DROP COLUMN IF EXISTS last_used_user_agent, DROP COLUMN IF EXISTS refreshed_at,
  DROP COLUMN IF EXISTS refresh_failed_at, DROP COLUMN IF EXISTS refresh_error;
