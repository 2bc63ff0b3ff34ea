-- 0113 user profile, username, provider handles, the organization's primary domain
-- Inputs: run by the owner after 0088.
-- users: first_name, last_name, avatar_url (https only), timezone (an IANA
--   name), language (a BCP 47 tag) — validated by UserRepository (Intl), the
--   checks here only bound length and shape; username: optional, stored
--   lowercase (3–32 of a-z 0-9 _ . -, a letter or digit at each end, no "..";
--   docs/schema.md, "Usernames"), citext so the unique index built by 0114
--   compares case-insensitively even for rows written around the repository.
--   All self-service: platform_app may update them on the user's own row
--   (users_update policy of 0002).
-- identities: provider_username / provider_discriminator, the handle the
--   provider shows (Discord's username and its legacy four-digit
--   discriminator, "0" for migrated accounts; GitHub's login …). Display only:
--   the subject (provider_user_id) stays the key.
-- platform_auth.organization_primary_domain: an organization's primary domain,
--   derived from organization_domains (0110: claims, TXT verification, several
--   domains per organization, one verified holder per domain) rather than
--   stored twice (docs/schema.md, "Organization domains").
-- platform_auth.user_credentials_by_username: sign-in by username, the twin
--   of user_credentials (0070).
-- Errors: check_violation users_username_format / users_avatar_url_https /
--   identities_provider_discriminator_format on bad values.

ALTER TABLE users
  ADD COLUMN first_name  text CONSTRAINT users_first_name_length CHECK (length(first_name) BETWEEN 1 AND 100),
  ADD COLUMN last_name   text CONSTRAINT users_last_name_length CHECK (length(last_name) BETWEEN 1 AND 100),
  ADD COLUMN avatar_url  text CONSTRAINT users_avatar_url_https CHECK (avatar_url ~ '^https://' AND length(avatar_url) <= 2048),
  ADD COLUMN timezone    text CONSTRAINT users_timezone_length CHECK (length(timezone) BETWEEN 1 AND 64),
  ADD COLUMN language    text CONSTRAINT users_language_length CHECK (length(language) BETWEEN 2 AND 35),
  -- ::text so the lowercase rule is checked case-sensitively (citext's ~ ignores case).
  ADD COLUMN username    citext CONSTRAINT users_username_format
    CHECK (username::text ~ '^[a-z0-9][a-z0-9_.-]{1,30}[a-z0-9]$' AND strpos(username::text, '..') = 0);

GRANT UPDATE (first_name, last_name, avatar_url, timezone, language, username) ON users TO platform_app;

ALTER TABLE identities
  ADD COLUMN provider_username      text CONSTRAINT identities_provider_username_length CHECK (length(provider_username) BETWEEN 1 AND 255),
  ADD COLUMN provider_discriminator text CONSTRAINT identities_provider_discriminator_format CHECK (provider_discriminator ~ '^[0-9]{1,4}$');

-- Sign-in by username: the user row with its password hash (citext = as in user_credentials).
CREATE FUNCTION platform_auth.user_credentials_by_username(p_username text) RETURNS SETOF public.users
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ BEGIN RETURN QUERY SELECT u.* FROM public.users u WHERE u.username OPERATOR(public.=) p_username::public.citext; END $$;
ALTER FUNCTION platform_auth.user_credentials_by_username(text) OWNER TO platform_auth;
REVOKE ALL ON FUNCTION platform_auth.user_credentials_by_username(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION platform_auth.user_credentials_by_username(text) TO platform_app;

-- The organization's primary domain: its earliest verified one. PL/pgSQL, so the body is resolved when it
-- first runs: organization_domains comes with 0110 (numbered after this file, applied before it on
-- databases that had it), which also grants platform_auth its SELECT. SECURITY DEFINER because the
-- domains are tenant rows (visible only in their organization's context) while an organization is read
-- from other contexts too (the user's list of organizations); like the other platform_auth lookups it
-- answers for one key, and what it answers — a verified domain — is published in DNS anyway.
CREATE FUNCTION platform_auth.organization_primary_domain(p_organization_id uuid) RETURNS text
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
BEGIN
  RETURN (SELECT d.domain FROM public.organization_domains d
          WHERE d.organization_id = p_organization_id AND d.verified_at IS NOT NULL
          ORDER BY d.verified_at, d.id LIMIT 1);
END
$$;
ALTER FUNCTION platform_auth.organization_primary_domain(uuid) OWNER TO platform_auth;
REVOKE ALL ON FUNCTION platform_auth.organization_primary_domain(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION platform_auth.organization_primary_domain(uuid) TO platform_app;
