-- 0001 roles_and_extensions
-- Inputs: run by the owner role (needs CREATEROLE, or superuser). Creates:
--   * extension citext (case-insensitive emails)
--   * role platform_app (LOGIN, NOBYPASSRLS, owns nothing) — cluster-wide, so
--     created idempotently and race-safely: two databases migrating at once
--     both try CREATE ROLE; the loser gets duplicate_object or, if it raced on
--     the catalog index, unique_violation — both mean "already there".
--   * tenant helper functions reading the transaction-local settings that
--     withTenant() sets (platform.organization_id / platform.user_id).
-- Errors: raises insufficient_privilege if the role exists with BYPASSRLS or
--   SUPERUSER (it would silently defeat row-level security).

CREATE EXTENSION IF NOT EXISTS citext;

DO $$
BEGIN
  BEGIN
    CREATE ROLE platform_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
  END;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'platform_app' AND (rolsuper OR rolbypassrls)) THEN
    RAISE EXCEPTION 'role platform_app must not be SUPERUSER or BYPASSRLS'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  -- A pre-existing NOLOGIN role (created by hand) would make the app pool fail to connect.
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'platform_app' AND NOT rolcanlogin) THEN
    ALTER ROLE platform_app LOGIN;
  END IF;
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO platform_app', current_database());
END
$$;

-- PostgreSQL < 15 lets every role create objects in public; the app role must own nothing.
-- Only the schema's owner may change its grants; a migrating role that does not own it
-- relies on the PostgreSQL 15+ default (no CREATE for PUBLIC) instead of failing.
DO $$
BEGIN
  IF pg_has_role(current_user, (SELECT nspowner FROM pg_namespace WHERE nspname = 'public'), 'USAGE') THEN
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    GRANT USAGE ON SCHEMA public TO platform_app;
  END IF;
END
$$;

-- NULL when unset: current_setting(..., true) yields NULL before the first
-- set_config in a session and '' after a transaction-local one has ended.
CREATE FUNCTION platform_current_organization_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('platform.organization_id', true), '')::uuid $$;

CREATE FUNCTION platform_current_user_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('platform.user_id', true), '')::uuid $$;

-- Keeps updated_at honest whichever code path writes the row.
CREATE FUNCTION platform_touch_updated_at() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;
