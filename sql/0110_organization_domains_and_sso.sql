-- 0110 organization domains and SSO connections
-- Inputs: run by the owner after 0070.
-- organization_domains: a domain an organization claims; verified when the
--   application's DNS check found the TXT record `<record_name>` = `<token>`.
--   verification_token is random (192 bits) and public by design: it is what
--   the customer publishes in DNS, and WorkOS, for one, returns it on every
--   read of the domain (workos.com/docs/reference/domain-verification). It
--   proves control of the domain's DNS, grants nothing by itself.
--   One organization at most holds a domain verified
--   (organization_domains_verified_key); claims may coexist until then, so
--   nobody can block a domain by claiming it first.
--   auto_join_role: NULL = off; else users whose verified email is at the
--   domain may join with this role (never owner).
-- sso_connections: OIDC (issuer, client id, client secret as a SecretBox
--   envelope, AAD `sso_connections:<id>:oidc_client_secret`) or SAML (IdP
--   metadata XML, IdP entity id, the SP's ACS URL). Public routing fields only
--   leave through platform_auth.sso_connection_for_domain.
-- RLS: the organization's own rows; the pre-tenant lookups (email domain →
--   verified domain → organization, connection) go through the narrow
--   SECURITY DEFINER functions below, one domain at a time.

CREATE TABLE organization_domains (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  domain              text NOT NULL CHECK (domain ~ '^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$' AND length(domain) <= 253),
  verification_token  text NOT NULL CHECK (verification_token ~ '^[A-Za-z0-9_-]{32}$'),
  verified_at         timestamptz,
  auto_join_role      membership_role CHECK (auto_join_role IS DISTINCT FROM 'owner'),
  created_at          timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT organization_domains_claim_key UNIQUE (organization_id, domain),
  CONSTRAINT organization_domains_auto_join_check CHECK (auto_join_role IS NULL OR verified_at IS NOT NULL)
);
CREATE UNIQUE INDEX organization_domains_verified_key ON organization_domains (domain) WHERE verified_at IS NOT NULL;

CREATE TABLE sso_connections (
  id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id       uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  protocol              text NOT NULL CHECK (protocol IN ('oidc', 'saml')),
  name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  enabled               boolean NOT NULL DEFAULT true,
  oidc_issuer           text,
  oidc_client_id        text,
  oidc_client_secret    bytea,
  saml_entity_id        text,
  saml_metadata_xml     text CHECK (length(saml_metadata_xml) <= 1000000),
  saml_acs_url          text,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT sso_connections_protocol_fields_check CHECK (
    (protocol = 'oidc' AND oidc_issuer IS NOT NULL AND oidc_client_id IS NOT NULL AND saml_entity_id IS NULL AND saml_metadata_xml IS NULL)
    OR (protocol = 'saml' AND saml_entity_id IS NOT NULL AND saml_metadata_xml IS NOT NULL AND saml_acs_url IS NOT NULL
        AND oidc_issuer IS NULL AND oidc_client_id IS NULL AND oidc_client_secret IS NULL))
);
CREATE INDEX sso_connections_organization_idx ON sso_connections (organization_id, created_at);

ALTER TABLE organization_domains ENABLE ROW LEVEL SECURITY;
ALTER TABLE organization_domains FORCE ROW LEVEL SECURITY;
ALTER TABLE sso_connections ENABLE ROW LEVEL SECURITY;
ALTER TABLE sso_connections FORCE ROW LEVEL SECURITY;
CREATE POLICY organization_domains_tenant ON organization_domains
  USING (organization_id = platform_current_organization_id()) WITH CHECK (organization_id = platform_current_organization_id());
CREATE POLICY sso_connections_tenant ON sso_connections
  USING (organization_id = platform_current_organization_id()) WITH CHECK (organization_id = platform_current_organization_id());
CREATE POLICY organization_domains_admin_scope ON organization_domains TO platform_app
  USING (platform_current_admin_actor() IS NOT NULL) WITH CHECK (platform_current_admin_actor() IS NOT NULL);
CREATE POLICY sso_connections_admin_scope ON sso_connections TO platform_app
  USING (platform_current_admin_actor() IS NOT NULL) WITH CHECK (platform_current_admin_actor() IS NOT NULL);
GRANT SELECT, INSERT, DELETE ON organization_domains, sso_connections TO platform_app;
GRANT UPDATE (verified_at, auto_join_role) ON organization_domains TO platform_app;
GRANT UPDATE (name, enabled, oidc_issuer, oidc_client_id, oidc_client_secret, saml_entity_id, saml_metadata_xml, saml_acs_url, updated_at)
  ON sso_connections TO platform_app;

-- Pre-tenant lookups, one domain at a time (an email's domain at sign-in).
GRANT SELECT ON organization_domains, sso_connections TO platform_auth;
CREATE POLICY organization_domains_platform_auth ON organization_domains FOR SELECT TO platform_auth USING (true);
CREATE POLICY sso_connections_platform_auth ON sso_connections FOR SELECT TO platform_auth USING (true);

-- The organization that verified `p_domain`, its domain row and auto-join role.
CREATE FUNCTION platform_auth.verified_domain(p_domain text) RETURNS TABLE (organization_id uuid, domain_id uuid, auto_join_role text)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ SELECT d.organization_id, d.id, d.auto_join_role::text FROM public.organization_domains d
        WHERE d.domain = p_domain AND d.verified_at IS NOT NULL $$;

-- The enabled SSO connections of the organization that verified `p_domain`: routing fields only, no secret.
CREATE FUNCTION platform_auth.sso_connections_for_domain(p_domain text)
  RETURNS TABLE (id uuid, organization_id uuid, protocol text, name text, oidc_issuer text, oidc_client_id text, saml_entity_id text, saml_acs_url text, created_at timestamptz)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ SELECT c.id, c.organization_id, c.protocol, c.name, c.oidc_issuer, c.oidc_client_id, c.saml_entity_id, c.saml_acs_url, c.created_at
        FROM public.organization_domains d JOIN public.sso_connections c ON c.organization_id = d.organization_id
        WHERE d.domain = p_domain AND d.verified_at IS NOT NULL AND c.enabled
        ORDER BY c.created_at, c.id $$;

-- The client credentials of one enabled OIDC connection (the encrypted secret), for the SSO callback.
CREATE FUNCTION platform_auth.sso_client_credentials(p_id uuid) RETURNS TABLE (organization_id uuid, oidc_issuer text, oidc_client_id text, oidc_client_secret bytea)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ SELECT c.organization_id, c.oidc_issuer, c.oidc_client_id, c.oidc_client_secret FROM public.sso_connections c
        WHERE c.id = p_id AND c.enabled AND c.protocol = 'oidc' $$;

DO $$
DECLARE f regprocedure;
BEGIN
  FOR f IN SELECT p.oid FROM pg_proc p
           WHERE p.pronamespace = 'platform_auth'::regnamespace
             AND p.proname IN ('verified_domain', 'sso_connections_for_domain', 'sso_client_credentials') LOOP
    EXECUTE format('ALTER FUNCTION %s OWNER TO platform_auth', f);
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO platform_app', f);
  END LOOP;
END
$$;
