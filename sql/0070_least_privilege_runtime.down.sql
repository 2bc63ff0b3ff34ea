-- Reverts 0070: the application needs the owner's credentials again for pre-tenant and admin work.
DO $$
DECLARE p record;
BEGIN
  FOR p IN SELECT policyname, tablename FROM pg_policies
           WHERE schemaname = 'public' AND (policyname LIKE '%\_admin\_scope' OR policyname LIKE '%\_user\_scope'
                 OR policyname LIKE '%\_platform\_auth' OR policyname IN ('organizations_insert', 'audit_log_append_untenanted')) LOOP
    EXECUTE format('DROP POLICY %I ON %I', p.policyname, p.tablename);
  END LOOP;
END
$$;
REVOKE INSERT, DELETE ON users FROM platform_app;
REVOKE UPDATE ON users FROM platform_app;
GRANT UPDATE (display_name, marketing_consent_version, marketing_consent_at, last_login_at, last_login_ip) ON users TO platform_app;
REVOKE INSERT, DELETE ON organizations FROM platform_app;
REVOKE DELETE ON consent_events FROM platform_app;
REVOKE ALL ON erasure_requests, erasure_steps FROM platform_app;
REVOKE UPDATE ON audit_log FROM platform_app;
REVOKE UPDATE (created_by) ON api_keys, personas FROM platform_app;
REVOKE SELECT ON platform_migrations FROM platform_app;
DROP SCHEMA IF EXISTS platform_auth CASCADE;
DROP FUNCTION IF EXISTS platform_current_admin_actor();
REVOKE ALL ON users, sessions, api_keys, refresh_tokens, verification_tokens, mfa_challenges, identities, memberships, membership_invitations FROM platform_auth;
REVOKE USAGE ON SCHEMA public FROM platform_auth;
-- platform_auth is cluster-wide and may serve other databases: it is left in place, like platform_app.
