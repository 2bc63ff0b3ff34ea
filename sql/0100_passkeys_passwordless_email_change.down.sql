-- Reverts 0100. Drops every registered passkey, pending sign-in code and email-change request:
-- users sign in with their password again; a completed email change stays (users.email is not touched).
DROP FUNCTION IF EXISTS platform_auth.email_change_by_token(bytea);
DROP FUNCTION IF EXISTS platform_auth.webauthn_challenge(text, bytea);
DROP FUNCTION IF EXISTS platform_auth.consume_webauthn_challenge(text, bytea);
DROP FUNCTION IF EXISTS platform_auth.passkey_by_credential_id(text);
REVOKE UPDATE (email) ON users FROM platform_app;
DROP TABLE IF EXISTS email_change_requests;
DROP TABLE IF EXISTS email_sign_in_codes;
DROP TABLE IF EXISTS webauthn_challenges;
DROP TABLE IF EXISTS passkey_credentials;
