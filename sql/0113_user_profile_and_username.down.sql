-- Reverts 0113. Profile fields, usernames and provider handles are lost; domains are untouched.
DROP FUNCTION IF EXISTS platform_auth.organization_primary_domain(uuid);
DROP FUNCTION IF EXISTS platform_auth.user_credentials_by_username(text);
ALTER TABLE identities DROP COLUMN IF EXISTS provider_discriminator, DROP COLUMN IF EXISTS provider_username;
ALTER TABLE users
  DROP COLUMN IF EXISTS username, DROP COLUMN IF EXISTS language, DROP COLUMN IF EXISTS timezone,
  DROP COLUMN IF EXISTS avatar_url, DROP COLUMN IF EXISTS last_name, DROP COLUMN IF EXISTS first_name;
