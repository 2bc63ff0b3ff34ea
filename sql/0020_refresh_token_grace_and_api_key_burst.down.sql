-- Down of 0020: in-flight grace windows end early (losers get TokenError('reused')).
ALTER TABLE api_keys DROP COLUMN IF EXISTS rate_limit_burst;
DROP INDEX IF EXISTS refresh_tokens_grace_secret_idx;
ALTER TABLE refresh_tokens DROP COLUMN IF EXISTS replacement_token_encrypted;
