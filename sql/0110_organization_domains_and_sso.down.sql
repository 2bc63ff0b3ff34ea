-- Reverts 0110. Domain claims, verifications and SSO connections are lost.
DROP FUNCTION IF EXISTS platform_auth.sso_client_credentials(uuid);
DROP FUNCTION IF EXISTS platform_auth.sso_connections_for_domain(text);
DROP FUNCTION IF EXISTS platform_auth.verified_domain(text);
DROP TABLE IF EXISTS sso_connections;
DROP TABLE IF EXISTS organization_domains;
