-- 0004 sessions, refresh tokens, API keys (tenant tables)
-- Only hashes of refresh tokens and API-key secrets are stored (SHA-256, 32
-- bytes). Validation by hash or prefix precedes any tenant and runs on the
-- owner pool; listing and revoking within an organization run as platform_app.

CREATE TABLE sessions (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  access_token_jti text NOT NULL CHECK (length(access_token_jti) BETWEEN 1 AND 128),
  device           text CHECK (length(device) <= 200),
  ip               inet,
  user_agent       text CHECK (length(user_agent) <= 1000),
  created_at       timestamptz NOT NULL DEFAULT now(),
  last_seen_at     timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL,
  revoked_at       timestamptz,
  revoked_reason   text CHECK (length(revoked_reason) <= 200),
  CONSTRAINT sessions_access_token_jti_key UNIQUE (access_token_jti),
  CONSTRAINT sessions_revoked_reason_pair CHECK (revoked_reason IS NULL OR revoked_at IS NOT NULL)
);
CREATE INDEX sessions_user_active_idx ON sessions (user_id, created_at DESC) WHERE revoked_at IS NULL;
CREATE INDEX sessions_organization_created_idx ON sessions (organization_id, created_at, id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE refresh_tokens (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  session_id       uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  token_hash       bytea NOT NULL CHECK (length(token_hash) = 32),
  family_id        uuid NOT NULL,
  -- SET NULL: pruning an old ancestor must not delete its still-valid descendants.
  parent_id        uuid REFERENCES refresh_tokens (id) ON DELETE SET NULL,
  replaced_by      uuid REFERENCES refresh_tokens (id) ON DELETE SET NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL,
  rotated_at       timestamptz,
  revoked_at       timestamptz,
  revoked_reason   text CHECK (length(revoked_reason) <= 200),
  CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_organization_idx ON refresh_tokens (organization_id);
CREATE INDEX refresh_tokens_parent_idx ON refresh_tokens (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX refresh_tokens_replaced_by_idx ON refresh_tokens (replaced_by) WHERE replaced_by IS NOT NULL;
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

CREATE TABLE api_keys (
  id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id        uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  -- SET NULL: a key outlives the person who created it; the organization owns it.
  created_by             uuid REFERENCES users (id) ON DELETE SET NULL,
  name                   text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  prefix                 text NOT NULL CHECK (prefix ~ '^[A-Za-z0-9_]{8,32}$'),
  secret_hash            bytea NOT NULL CHECK (length(secret_hash) = 32),
  scopes                 text[] NOT NULL DEFAULT '{}',
  rate_limit_per_minute  integer CHECK (rate_limit_per_minute BETWEEN 1 AND 1000000),
  last_used_at           timestamptz,
  expires_at             timestamptz,
  created_at             timestamptz NOT NULL DEFAULT now(),
  revoked_at             timestamptz,
  CONSTRAINT api_keys_prefix_key UNIQUE (prefix)
);
CREATE INDEX api_keys_organization_created_idx ON api_keys (organization_id, created_at, id);
CREATE INDEX api_keys_created_by_idx ON api_keys (created_by) WHERE created_by IS NOT NULL;

ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;

CREATE POLICY sessions_tenant ON sessions
  USING (organization_id = platform_current_organization_id())
  WITH CHECK (organization_id = platform_current_organization_id());
CREATE POLICY refresh_tokens_tenant ON refresh_tokens
  USING (organization_id = platform_current_organization_id())
  WITH CHECK (organization_id = platform_current_organization_id());
CREATE POLICY api_keys_tenant ON api_keys
  USING (organization_id = platform_current_organization_id())
  WITH CHECK (organization_id = platform_current_organization_id());

GRANT SELECT, INSERT, UPDATE, DELETE ON sessions, refresh_tokens, api_keys TO platform_app;
