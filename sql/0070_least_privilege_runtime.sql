-- 0070 least privilege at run time
-- Inputs: run by the owner role (superuser, or CREATEROLE) after 0050.
-- After this migration the application needs only DATABASE_APP_URL (role
-- platform_app): nothing at run time uses the owner. Three mechanisms, chosen
-- per path (docs/security.md, "Least privilege at run time"):
--
--   1. Narrow SECURITY DEFINER functions in schema platform_auth, owned by the
--      NOLOGIN role platform_auth (not superuser, no BYPASSRLS, owns no table),
--      each with a fixed search_path (pg_catalog, pg_temp) and schema-qualified
--      names, EXECUTE revoked from PUBLIC and granted to platform_app only —
--      PostgreSQL manual, CREATE FUNCTION, "Writing SECURITY DEFINER Functions
--      Safely". They serve the lookups keyed by something the caller presents
--      before any tenant is known (an email, a token hash, a key prefix, a
--      provider subject) and the hot-path reads by session id / jti / user id:
--      each returns at most one row for one key, so the application role
--      cannot list users, sessions or keys through them.
--   2. Scope policies keyed on the transaction-local settings: "user scope"
--      (platform.user_id set, no organization) reaches one person's own rows
--      (profile and lockout bookkeeping, sessions and refresh tokens across
--      organizations); "organization scope" (platform.organization_id) lets
--      sign-up insert the organization it is creating.
--   3. "Admin scope" (platform.admin_actor set, mirroring the TypeScript
--      AdminScope): erasure, export, retention and re-encryption, which are
--      cross-tenant by nature. This is the broad one; see docs/security.md.
-- Output: role platform_auth, schema platform_auth and its functions, the
--   policies and grants below. Errors: insufficient_privilege when the owner
--   cannot create roles.

DO $$
BEGIN
  BEGIN
    CREATE ROLE platform_auth NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
  END;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'platform_auth' AND (rolsuper OR rolbypassrls OR rolcanlogin)) THEN
    RAISE EXCEPTION 'role platform_auth must be NOLOGIN, not SUPERUSER, not BYPASSRLS'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  -- ALTER FUNCTION … OWNER TO needs membership of the new owner (a superuser has it implicitly).
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE format('GRANT platform_auth TO %I', current_user);
  END IF;
END
$$;

CREATE FUNCTION platform_current_admin_actor() RETURNS text
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('platform.admin_actor', true), '') $$;

-- The migration ledger, so `health()` can report pending migrations without the owner.
GRANT SELECT ON platform_migrations TO platform_app;

-- 1. platform_auth: owner of the pre-tenant functions ---------------------------
CREATE SCHEMA platform_auth;
REVOKE ALL ON SCHEMA platform_auth FROM PUBLIC;
GRANT USAGE ON SCHEMA platform_auth TO platform_app, platform_auth;
GRANT USAGE ON SCHEMA public TO platform_auth;

GRANT SELECT ON users, sessions, api_keys, refresh_tokens, verification_tokens, mfa_challenges, identities TO platform_auth;
-- memberships: only for api_key_creator (a key acts with its creator's current role).
GRANT SELECT ON memberships TO platform_auth;
GRANT SELECT ON membership_invitations TO platform_auth;
GRANT UPDATE (last_seen_at) ON sessions TO platform_auth;
GRANT UPDATE (last_used_at) ON api_keys TO platform_auth;
GRANT UPDATE (consumed_at) ON verification_tokens TO platform_auth;
GRANT UPDATE (failed_attempts, consumed_at) ON mfa_challenges TO platform_auth;

CREATE POLICY users_platform_auth ON users FOR SELECT TO platform_auth USING (true);
CREATE POLICY sessions_platform_auth ON sessions TO platform_auth USING (true) WITH CHECK (true);
CREATE POLICY api_keys_platform_auth ON api_keys TO platform_auth USING (true) WITH CHECK (true);
CREATE POLICY refresh_tokens_platform_auth ON refresh_tokens FOR SELECT TO platform_auth USING (true);
CREATE POLICY memberships_platform_auth ON memberships FOR SELECT TO platform_auth USING (true);
CREATE POLICY membership_invitations_platform_auth ON membership_invitations FOR SELECT TO platform_auth USING (true);
CREATE POLICY verification_tokens_platform_auth ON verification_tokens TO platform_auth USING (true) WITH CHECK (true);
CREATE POLICY mfa_challenges_platform_auth ON mfa_challenges TO platform_auth USING (true) WITH CHECK (true);
CREATE POLICY identities_platform_auth ON identities FOR SELECT TO platform_auth USING (true);

-- PL/pgSQL for the four hot-path reads: it keeps each plan for the session, where a
-- SECURITY DEFINER SQL function (never inlined) would be planned on every call.
-- citext's = lives in public, hence OPERATOR(public.=): with search_path pg_catalog
-- the bare = would compare as text (case-sensitive, and without the unique index).

-- Sign-in by email: the user row with its password hash.
CREATE FUNCTION platform_auth.user_credentials(p_email text) RETURNS SETOF public.users
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ BEGIN RETURN QUERY SELECT u.* FROM public.users u WHERE u.email OPERATOR(public.=) p_email::public.citext; END $$;

-- Hot path (every sign-in re-reads the user): the row WITHOUT its password hash.
CREATE FUNCTION platform_auth.user_by_id(p_id uuid) RETURNS SETOF public.users
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ BEGIN RETURN QUERY SELECT (pg_catalog.jsonb_populate_record(u, '{"password_hash": null}'::jsonb)).* FROM public.users u WHERE u.id = p_id; END $$;

-- Hot path: session validation on a cache miss carries only a session id or an access-token jti.
CREATE FUNCTION platform_auth.session_by_id(p_id uuid) RETURNS SETOF public.sessions
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ BEGIN RETURN QUERY SELECT s.* FROM public.sessions s WHERE s.id = p_id; END $$;

CREATE FUNCTION platform_auth.session_by_jti(p_jti text) RETURNS SETOF public.sessions
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ BEGIN RETURN QUERY SELECT s.* FROM public.sessions s WHERE s.access_token_jti = p_jti; END $$;

-- Activity stamp of a live session, throttled (only last_seen_at can change).
CREATE FUNCTION platform_auth.touch_session(p_id uuid, p_min_interval_seconds integer) RETURNS SETOF uuid
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
    UPDATE public.sessions SET last_seen_at = now()
    WHERE id = p_id AND revoked_at IS NULL AND expires_at > now()
      AND last_seen_at <= now() - make_interval(secs => p_min_interval_seconds)
    RETURNING id
  $$;

-- API-key authentication: the key with this public prefix (its secret hash is compared in constant time by the caller).
CREATE FUNCTION platform_auth.api_key_by_prefix(p_prefix text) RETURNS SETOF public.api_keys
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ SELECT k.* FROM public.api_keys k WHERE k.prefix = p_prefix $$;

-- The key's creator as of now (role in the key's organization, account status):
-- a key acts with its creator's current role narrowed by its scopes. Answers only
-- to the holder of the whole key (prefix and the SHA-256 of its secret).
CREATE FUNCTION platform_auth.api_key_creator(p_prefix text, p_secret_hash bytea) RETURNS TABLE (creator_role text, creator_status text)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
    SELECT m.role::text, u.status::text
    FROM public.api_keys k
    LEFT JOIN public.memberships m ON m.organization_id = k.organization_id AND m.user_id = k.created_by
    LEFT JOIN public.users u ON u.id = k.created_by
    WHERE k.prefix = p_prefix AND k.secret_hash = p_secret_hash
  $$;

CREATE FUNCTION platform_auth.touch_api_key(p_id uuid, p_min_interval_seconds integer) RETURNS SETOF uuid
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
    UPDATE public.api_keys SET last_used_at = now()
    WHERE id = p_id AND (last_used_at IS NULL OR last_used_at <= now() - make_interval(secs => p_min_interval_seconds))
    RETURNING id
  $$;

-- Refresh: whose token is this hash? (organization and user only; the rotation then runs in that tenant's scope.)
CREATE FUNCTION platform_auth.refresh_token_owner(p_token_hash bytea) RETURNS TABLE (organization_id uuid, user_id uuid)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ SELECT t.organization_id, t.user_id FROM public.refresh_tokens t WHERE t.token_hash = p_token_hash $$;

-- Logout of one device by family id.
CREATE FUNCTION platform_auth.refresh_family_owner(p_family_id uuid) RETURNS SETOF uuid
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ SELECT DISTINCT t.user_id FROM public.refresh_tokens t WHERE t.family_id = p_family_id $$;

-- E-mail verification / password reset links: the token is 256 random bits, only its SHA-256 is stored.
CREATE FUNCTION platform_auth.verification_token(p_purpose text, p_token_hash bytea) RETURNS SETOF public.verification_tokens
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ SELECT v.* FROM public.verification_tokens v WHERE v.token_hash = p_token_hash AND v.purpose::text = p_purpose $$;

CREATE FUNCTION platform_auth.consume_verification_token(p_purpose text, p_token_hash bytea) RETURNS SETOF public.verification_tokens
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
    UPDATE public.verification_tokens SET consumed_at = now()
    WHERE token_hash = p_token_hash AND purpose::text = p_purpose AND consumed_at IS NULL AND expires_at > now()
    RETURNING *
  $$;

-- MFA sign-in challenges (token hash → challenge; then by the challenge id it returned).
CREATE FUNCTION platform_auth.mfa_challenge(p_purpose text, p_token_hash bytea) RETURNS SETOF public.mfa_challenges
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ SELECT c.* FROM public.mfa_challenges c WHERE c.token_hash = p_token_hash AND c.purpose = p_purpose $$;

CREATE FUNCTION platform_auth.fail_mfa_challenge(p_id uuid, p_max_attempts integer) RETURNS TABLE (failed_attempts integer, closed boolean)
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
    UPDATE public.mfa_challenges c SET
      failed_attempts = c.failed_attempts + 1,
      consumed_at = CASE WHEN c.failed_attempts + 1 >= p_max_attempts THEN now() ELSE NULL END
    WHERE c.id = p_id AND c.consumed_at IS NULL
    RETURNING c.failed_attempts, c.consumed_at IS NOT NULL
  $$;

CREATE FUNCTION platform_auth.consume_mfa_challenge(p_id uuid) RETURNS SETOF uuid
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
    UPDATE public.mfa_challenges SET consumed_at = now()
    WHERE id = p_id AND consumed_at IS NULL AND expires_at > now()
    RETURNING id
  $$;

-- Invitation answers: which organization and user the presented token is for
-- (only the SHA-256 of the token is stored); the answer then runs in that scope.
CREATE FUNCTION platform_auth.invitation_by_token(p_token_hash bytea) RETURNS TABLE (organization_id uuid, user_id uuid)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ SELECT i.organization_id, i.user_id FROM public.membership_invitations i WHERE i.token_hash = p_token_hash $$;

-- OAuth callback: the identity linked to a provider's subject.
CREATE FUNCTION platform_auth.identity_by_provider(p_provider text, p_provider_user_id text) RETURNS SETOF public.identities
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ SELECT i.* FROM public.identities i WHERE i.provider::text = p_provider AND i.provider_user_id = p_provider_user_id $$;

DO $$
DECLARE f regprocedure;
BEGIN
  FOR f IN SELECT p.oid FROM pg_proc p WHERE p.pronamespace = 'platform_auth'::regnamespace LOOP
    EXECUTE format('ALTER FUNCTION %s OWNER TO platform_auth', f);
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO platform_app', f);
  END LOOP;
END
$$;

-- 2. User and organization scope for platform_app --------------------------------
-- "User scope": platform.user_id set and NO organization, so a tenant context
-- (both set) is never widened by these policies.
CREATE POLICY users_insert_user_scope ON users FOR INSERT TO platform_app
  WITH CHECK (platform_current_organization_id() IS NULL AND id = platform_current_user_id());
CREATE POLICY users_delete_user_scope ON users FOR DELETE TO platform_app
  USING (platform_current_organization_id() IS NULL AND id = platform_current_user_id());
GRANT INSERT, DELETE ON users TO platform_app;
-- Sign-in bookkeeping, verification, suspension and password changes of that one user.
GRANT UPDATE (status, email_verified_at, deleted_at, failed_login_count, locked_until, must_change_password,
              password_hash, password_changed_at, terms_version, terms_accepted_at, privacy_version, privacy_accepted_at,
              age_confirmed_at) ON users TO platform_app;

CREATE POLICY sessions_user_scope ON sessions TO platform_app
  USING (platform_current_organization_id() IS NULL AND user_id = platform_current_user_id())
  WITH CHECK (platform_current_organization_id() IS NULL AND user_id = platform_current_user_id());
CREATE POLICY refresh_tokens_user_scope ON refresh_tokens TO platform_app
  USING (platform_current_organization_id() IS NULL AND user_id = platform_current_user_id())
  WITH CHECK (platform_current_organization_id() IS NULL AND user_id = platform_current_user_id());

-- Sign-up creates the organization it is scoped to (its id is chosen by the caller).
CREATE POLICY organizations_insert ON organizations FOR INSERT TO platform_app
  WITH CHECK (id = platform_current_organization_id());
GRANT INSERT ON organizations TO platform_app;

-- Audit events outside any tenant context (failed logins for unknown emails, the batching writer's
-- flushes of several organizations): append-only, the application still reads only its own tenant's.
CREATE POLICY audit_log_append_untenanted ON audit_log FOR INSERT TO platform_app
  WITH CHECK (platform_current_organization_id() IS NULL);

-- 3. Admin scope ------------------------------------------------------------------
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['organizations', 'users', 'memberships', 'identities', 'integration_tokens', 'verification_tokens',
                           'user_mfa', 'mfa_recovery_codes', 'password_history', 'organization_security_settings', 'sessions',
                           'refresh_tokens', 'api_keys', 'audit_log', 'personas', 'user_persona_preferences', 'voice_cache_entries',
                           'erasure_requests', 'erasure_steps', 'consent_events', 'mfa_challenges'] LOOP
    EXECUTE format('CREATE POLICY %I ON %I TO platform_app USING (platform_current_admin_actor() IS NOT NULL) WITH CHECK (platform_current_admin_actor() IS NOT NULL)',
                   t || '_admin_scope', t);
  END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON erasure_requests, erasure_steps TO platform_app;
GRANT DELETE ON organizations, consent_events TO platform_app;
-- Erasure pseudonymises the audit log (actor, ip, user agent, details); nothing else of it changes.
GRANT UPDATE (actor_user_id, ip, user_agent, details) ON audit_log TO platform_app;
GRANT UPDATE (created_by) ON api_keys, personas TO platform_app;
