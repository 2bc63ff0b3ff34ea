-- 0003 identities and credentials
-- User-owned tables (no organization: a login method or second factor belongs
-- to the person, across organizations): identities, user_mfa,
-- mfa_recovery_codes, password_history, verification_tokens.
-- Tenant tables: integration_tokens, organization_security_settings.
-- Secrets: provider/integration tokens and TOTP secrets are SecretBox envelopes
-- (bytea, AES-256-GCM, key id inside); one-time codes and tokens are stored as
-- hashes only. Lookups by provider id or token hash happen before any tenant
-- is known and run on the owner pool.

CREATE TYPE identity_provider AS ENUM ('google', 'microsoft', 'facebook', 'apple', 'discord', 'github');
CREATE TYPE verification_purpose AS ENUM ('email_verification', 'password_reset', 'magic_link');

CREATE TABLE identities (
  id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id                  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  provider                 identity_provider NOT NULL,
  provider_user_id         text NOT NULL CHECK (length(provider_user_id) BETWEEN 1 AND 255),
  email                    citext,
  access_token_encrypted   bytea,
  refresh_token_encrypted  bytea,
  token_expires_at         timestamptz,
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT identities_provider_user_key UNIQUE (provider, provider_user_id),
  -- One account per provider and user keeps "unlink" unambiguous.
  CONSTRAINT identities_user_provider_key UNIQUE (user_id, provider)
);
CREATE TRIGGER identities_touch_updated_at BEFORE UPDATE ON identities
  FOR EACH ROW EXECUTE FUNCTION platform_touch_updated_at();

CREATE TABLE integration_tokens (
  id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id          uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  user_id                  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  integration              text NOT NULL CHECK (integration ~ '^[a-z0-9_-]{1,64}$'),
  access_token_encrypted   bytea NOT NULL,
  refresh_token_encrypted  bytea,
  expires_at               timestamptz,
  scopes                   text[] NOT NULL DEFAULT '{}',
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT integration_tokens_org_user_integration_key UNIQUE (organization_id, user_id, integration)
);
CREATE INDEX integration_tokens_user_idx ON integration_tokens (user_id);
-- Serves both "expiring within 5 minutes" (refresh) and "expired over 30 days ago" (cleanup).
CREATE INDEX integration_tokens_expires_at_idx ON integration_tokens (expires_at) WHERE expires_at IS NOT NULL;
CREATE TRIGGER integration_tokens_touch_updated_at BEFORE UPDATE ON integration_tokens
  FOR EACH ROW EXECUTE FUNCTION platform_touch_updated_at();

CREATE TABLE verification_tokens (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  purpose      verification_purpose NOT NULL,
  token_hash   bytea NOT NULL CHECK (length(token_hash) = 32),
  expires_at   timestamptz NOT NULL,
  consumed_at  timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT verification_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX verification_tokens_user_purpose_idx ON verification_tokens (user_id, purpose) WHERE consumed_at IS NULL;
CREATE INDEX verification_tokens_expires_at_idx ON verification_tokens (expires_at);

CREATE TABLE user_mfa (
  user_id                 uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  totp_secret_encrypted   bytea NOT NULL,
  enabled_at              timestamptz,
  -- Last accepted TOTP time step: a code is never accepted twice.
  last_used_step          bigint,
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER user_mfa_touch_updated_at BEFORE UPDATE ON user_mfa
  FOR EACH ROW EXECUTE FUNCTION platform_touch_updated_at();

CREATE TABLE mfa_recovery_codes (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  code_hash   bytea NOT NULL CHECK (length(code_hash) = 32),
  used_at     timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT mfa_recovery_codes_user_code_key UNIQUE (user_id, code_hash)
);

CREATE TABLE password_history (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  password_hash  text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_history_user_created_idx ON password_history (user_id, created_at DESC);

CREATE TABLE organization_security_settings (
  organization_id                uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
  password_min_length            integer NOT NULL DEFAULT 12 CHECK (password_min_length BETWEEN 8 AND 128),
  password_require_lowercase     boolean NOT NULL DEFAULT true,
  password_require_uppercase     boolean NOT NULL DEFAULT true,
  password_require_digit         boolean NOT NULL DEFAULT true,
  password_require_symbol        boolean NOT NULL DEFAULT false,
  password_history_count         integer NOT NULL DEFAULT 5 CHECK (password_history_count BETWEEN 0 AND 24),
  password_max_age_days          integer CHECK (password_max_age_days BETWEEN 1 AND 3650),
  session_timeout_minutes        integer NOT NULL DEFAULT 43200 CHECK (session_timeout_minutes BETWEEN 5 AND 525600),
  inactivity_timeout_minutes     integer NOT NULL DEFAULT 1440 CHECK (inactivity_timeout_minutes BETWEEN 1 AND 525600),
  mfa_required                   boolean NOT NULL DEFAULT false,
  ip_allow_list                  cidr[] NOT NULL DEFAULT '{}',
  created_at                     timestamptz NOT NULL DEFAULT now(),
  updated_at                     timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER organization_security_settings_touch_updated_at BEFORE UPDATE ON organization_security_settings
  FOR EACH ROW EXECUTE FUNCTION platform_touch_updated_at();

-- Row-level security -------------------------------------------------------
ALTER TABLE identities ENABLE ROW LEVEL SECURITY;
ALTER TABLE identities FORCE ROW LEVEL SECURITY;
ALTER TABLE integration_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE integration_tokens FORCE ROW LEVEL SECURITY;
ALTER TABLE verification_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE verification_tokens FORCE ROW LEVEL SECURITY;
ALTER TABLE user_mfa ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_mfa FORCE ROW LEVEL SECURITY;
ALTER TABLE mfa_recovery_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE mfa_recovery_codes FORCE ROW LEVEL SECURITY;
ALTER TABLE password_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE password_history FORCE ROW LEVEL SECURITY;
ALTER TABLE organization_security_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE organization_security_settings FORCE ROW LEVEL SECURITY;

CREATE POLICY identities_owner ON identities
  USING (user_id = platform_current_user_id()) WITH CHECK (user_id = platform_current_user_id());
CREATE POLICY verification_tokens_owner ON verification_tokens
  USING (user_id = platform_current_user_id()) WITH CHECK (user_id = platform_current_user_id());
CREATE POLICY user_mfa_owner ON user_mfa
  USING (user_id = platform_current_user_id()) WITH CHECK (user_id = platform_current_user_id());
CREATE POLICY mfa_recovery_codes_owner ON mfa_recovery_codes
  USING (user_id = platform_current_user_id()) WITH CHECK (user_id = platform_current_user_id());
CREATE POLICY password_history_owner ON password_history
  USING (user_id = platform_current_user_id()) WITH CHECK (user_id = platform_current_user_id());
-- An integration token is one user's grant inside one organization.
CREATE POLICY integration_tokens_tenant ON integration_tokens
  USING (organization_id = platform_current_organization_id() AND user_id = platform_current_user_id())
  WITH CHECK (organization_id = platform_current_organization_id() AND user_id = platform_current_user_id());
CREATE POLICY organization_security_settings_tenant ON organization_security_settings
  USING (organization_id = platform_current_organization_id())
  WITH CHECK (organization_id = platform_current_organization_id());

GRANT SELECT, INSERT, UPDATE, DELETE ON identities, integration_tokens, verification_tokens, user_mfa,
  mfa_recovery_codes, password_history, organization_security_settings TO platform_app;
