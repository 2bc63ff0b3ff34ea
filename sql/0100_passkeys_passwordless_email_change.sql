-- 0100 passkeys (WebAuthn), passwordless sign-in codes, email change requests
-- Inputs: run by the owner after 0070 (needs role platform_auth and schema platform_auth).
-- Output: tables passkey_credentials, webauthn_challenges, email_sign_in_codes,
--   email_change_requests (RLS forced; user-scope owner policies, admin scope like 0070),
--   five platform_auth functions for the pre-tenant lookups, UPDATE (email) on users.
-- Errors: none beyond the usual (duplicate objects when run twice — the migrator runs it once).
--
-- passkey_credentials: one WebAuthn credential of a person (WebAuthn L2 §4 "Credential Record").
--   credential_id   base64url of the credential id (§5.1 rawId); unique across the RP (§7.1 step 22)
--   public_key      COSE_Key of the credential (§6.5.1.1); public by nature, stored as is
--   sign_count      last signature counter (§6.1.1); 0 = the authenticator keeps none
--   backup_eligible / backed_up   flags BE / BS of the authenticator data (§6.1, L3 §6.1.3)
--   organization_id the organization the user acted in when registering (informational; a passkey is the person's)
-- webauthn_challenges: the SHA-256 of each ceremony challenge (§13.4.3: random, ≥16 bytes, used once);
--   user_id NULL for a usernameless (discoverable-credential) sign-in started before anyone is known.
-- email_sign_in_codes: one-time 6-digit codes by email; code_hash = SHA-256(salt ‖ code), attempts counted.
-- email_change_requests: a pending new address confirmed from the new (and, by option, the old)
--   mailbox; after completion the old address may revert it until revert_expires_at.

CREATE TABLE passkey_credentials (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  organization_id  uuid REFERENCES organizations (id) ON DELETE SET NULL,
  credential_id    text NOT NULL CHECK (credential_id ~ '^[A-Za-z0-9_-]+$' AND length(credential_id) BETWEEN 16 AND 1400),
  public_key       bytea NOT NULL CHECK (length(public_key) BETWEEN 16 AND 2048),
  sign_count       bigint NOT NULL DEFAULT 0 CHECK (sign_count BETWEEN 0 AND 4294967295),
  transports       text[] NOT NULL DEFAULT '{}' CHECK (cardinality(transports) <= 8),
  backup_eligible  boolean NOT NULL,
  backed_up        boolean NOT NULL,
  aaguid           uuid,
  friendly_name    text NOT NULL CHECK (length(friendly_name) BETWEEN 1 AND 100),
  last_used_at     timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT passkey_credentials_credential_id_key UNIQUE (credential_id)
);
CREATE INDEX passkey_credentials_user_idx ON passkey_credentials (user_id);
CREATE INDEX passkey_credentials_organization_idx ON passkey_credentials (organization_id);

CREATE TABLE webauthn_challenges (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id         uuid REFERENCES users (id) ON DELETE CASCADE,
  purpose         text NOT NULL CONSTRAINT webauthn_challenges_purpose_check CHECK (purpose IN ('registration', 'authentication')),
  challenge_hash  bytea NOT NULL CHECK (length(challenge_hash) = 32),
  expires_at      timestamptz NOT NULL,
  consumed_at     timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT webauthn_challenges_challenge_hash_key UNIQUE (challenge_hash),
  CONSTRAINT webauthn_challenges_registration_has_user CHECK (purpose = 'authentication' OR user_id IS NOT NULL)
);
CREATE INDEX webauthn_challenges_user_idx ON webauthn_challenges (user_id);
CREATE INDEX webauthn_challenges_expires_at_idx ON webauthn_challenges (expires_at);

CREATE TABLE email_sign_in_codes (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  code_salt        bytea NOT NULL CHECK (length(code_salt) = 16),
  code_hash        bytea NOT NULL CHECK (length(code_hash) = 32),
  failed_attempts  integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
  expires_at       timestamptz NOT NULL,
  consumed_at      timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_sign_in_codes_user_idx ON email_sign_in_codes (user_id) WHERE consumed_at IS NULL;
CREATE INDEX email_sign_in_codes_expires_at_idx ON email_sign_in_codes (expires_at);

CREATE TABLE email_change_requests (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id            uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  old_email          citext NOT NULL CHECK (length(old_email) BETWEEN 3 AND 320),
  new_email          citext NOT NULL CHECK (length(new_email) BETWEEN 3 AND 320),
  new_token_hash     bytea NOT NULL CHECK (length(new_token_hash) = 32),
  old_token_hash     bytea CHECK (length(old_token_hash) = 32),
  new_confirmed_at   timestamptz,
  old_confirmed_at   timestamptz,
  expires_at         timestamptz NOT NULL,
  completed_at       timestamptz,
  revert_token_hash  bytea CHECK (length(revert_token_hash) = 32),
  revert_expires_at  timestamptz,
  reverted_at        timestamptz,
  cancelled_at       timestamptz,
  created_at         timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT email_change_requests_new_token_hash_key UNIQUE (new_token_hash),
  CONSTRAINT email_change_requests_old_token_hash_key UNIQUE (old_token_hash),
  CONSTRAINT email_change_requests_revert_token_hash_key UNIQUE (revert_token_hash)
);
-- One open request per user (a new one cancels the previous in the same transaction).
CREATE UNIQUE INDEX email_change_requests_one_open ON email_change_requests (user_id)
  WHERE completed_at IS NULL AND cancelled_at IS NULL;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['passkey_credentials', 'webauthn_challenges', 'email_sign_in_codes', 'email_change_requests'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    -- A person's own rows (withUserScope), as mfa_challenges in 0050.
    EXECUTE format('CREATE POLICY %I ON %I USING (user_id = platform_current_user_id()) WITH CHECK (user_id = platform_current_user_id())', t || '_owner', t);
    EXECUTE format('CREATE POLICY %I ON %I TO platform_app USING (platform_current_admin_actor() IS NOT NULL) WITH CHECK (platform_current_admin_actor() IS NOT NULL)',
                   t || '_admin_scope', t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO platform_app', t);
  END LOOP;
END
$$;

-- A usernameless sign-in starts before anyone is known: its challenge row has no user, and
-- may be inserted with no scope at all (it grants nothing until a credential signs it).
CREATE POLICY webauthn_challenges_anonymous_insert ON webauthn_challenges FOR INSERT TO platform_app
  WITH CHECK (user_id IS NULL AND purpose = 'authentication' AND platform_current_user_id() IS NULL AND platform_current_organization_id() IS NULL);

-- Email change writes the user's own address (user scope, users_update policy of 0002).
GRANT UPDATE (email) ON users TO platform_app;

-- Pre-tenant lookups (see 0070 for the rules these functions follow) ----------------
GRANT SELECT ON passkey_credentials, webauthn_challenges, email_change_requests TO platform_auth;
GRANT UPDATE (consumed_at) ON webauthn_challenges TO platform_auth;
CREATE POLICY passkey_credentials_platform_auth ON passkey_credentials FOR SELECT TO platform_auth USING (true);
CREATE POLICY webauthn_challenges_platform_auth ON webauthn_challenges TO platform_auth USING (true) WITH CHECK (true);
CREATE POLICY email_change_requests_platform_auth ON email_change_requests FOR SELECT TO platform_auth USING (true);

-- Passkey sign-in: the credential the assertion names (§7.2 step 5/6: the RP looks it up by id).
CREATE FUNCTION platform_auth.passkey_by_credential_id(p_credential_id text) RETURNS SETOF public.passkey_credentials
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ SELECT c.* FROM public.passkey_credentials c WHERE c.credential_id = p_credential_id $$;

-- A ceremony's challenge, used once: ONE UPDATE, so of concurrent uses exactly one wins (§13.4.3).
CREATE FUNCTION platform_auth.consume_webauthn_challenge(p_purpose text, p_challenge_hash bytea) RETURNS SETOF public.webauthn_challenges
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
    UPDATE public.webauthn_challenges SET consumed_at = now()
    WHERE challenge_hash = p_challenge_hash AND purpose = p_purpose AND consumed_at IS NULL AND expires_at > now()
    RETURNING *
  $$;

-- Why a challenge was refused (only after the consume failed; the challenge is 256 random bits).
CREATE FUNCTION platform_auth.webauthn_challenge(p_purpose text, p_challenge_hash bytea) RETURNS SETOF public.webauthn_challenges
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ SELECT c.* FROM public.webauthn_challenges c WHERE c.challenge_hash = p_challenge_hash AND c.purpose = p_purpose $$;

-- An email-change link: which request and user, and which of its three links it is.
CREATE FUNCTION platform_auth.email_change_by_token(p_token_hash bytea) RETURNS TABLE (id uuid, user_id uuid, link text)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
    SELECT r.id, r.user_id,
           CASE WHEN r.new_token_hash = p_token_hash THEN 'new' WHEN r.old_token_hash = p_token_hash THEN 'old' ELSE 'revert' END
    FROM public.email_change_requests r
    WHERE r.new_token_hash = p_token_hash OR r.old_token_hash = p_token_hash OR r.revert_token_hash = p_token_hash
  $$;

DO $$
DECLARE f regprocedure;
BEGIN
  FOR f IN SELECT p.oid FROM pg_proc p
           WHERE p.pronamespace = 'platform_auth'::regnamespace
             AND p.proname IN ('passkey_by_credential_id', 'consume_webauthn_challenge', 'webauthn_challenge', 'email_change_by_token') LOOP
    EXECUTE format('ALTER FUNCTION %s OWNER TO platform_auth', f);
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO platform_app', f);
  END LOOP;
END
$$;
