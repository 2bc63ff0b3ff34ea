-- 0002 organizations, users, memberships
-- organizations and users are global (a user spans organizations); memberships
-- is the tenant table that links them. RLS model (see docs/schema.md):
--   organizations: platform_app sees the current organization and those the
--                  current user belongs to; updates only the current one.
--   users:         platform_app sees the current user and members of the
--                  current organization; updates only the current user.
--   memberships:   platform_app sees the current organization's memberships
--                  and the current user's own; writes only in the current org.
-- Creating organizations and users, and lookups before a tenant is known
-- (login by email), are privileged flows on the owner pool.
-- Errors: the last-owner trigger raises check_violation with constraint
--   memberships_last_owner (mapped to ConflictError).

CREATE TYPE organization_tier AS ENUM ('free', 'pro', 'enterprise');
CREATE TYPE user_status AS ENUM ('pending_verification', 'active', 'suspended', 'locked', 'deleted');
CREATE TYPE membership_role AS ENUM ('owner', 'admin', 'member', 'viewer', 'developer');

CREATE TABLE organizations (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  slug        citext NOT NULL CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'),
  tier        organization_tier NOT NULL DEFAULT 'free',
  credits     bigint NOT NULL DEFAULT 0,
  settings    jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(settings) = 'object'),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  deleted_at  timestamptz,
  CONSTRAINT organizations_credits_non_negative CHECK (credits >= 0),
  CONSTRAINT organizations_slug_key UNIQUE (slug)
);
CREATE INDEX organizations_created_at_id_idx ON organizations (created_at, id) WHERE deleted_at IS NULL;
CREATE TRIGGER organizations_touch_updated_at BEFORE UPDATE ON organizations
  FOR EACH ROW EXECUTE FUNCTION platform_touch_updated_at();

CREATE TABLE users (
  id                          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email                       citext NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
  display_name                text CHECK (length(display_name) <= 200),
  password_hash               text,
  status                      user_status NOT NULL DEFAULT 'pending_verification',
  email_verified_at           timestamptz,
  failed_login_count          integer NOT NULL DEFAULT 0 CHECK (failed_login_count >= 0),
  locked_until                timestamptz,
  must_change_password        boolean NOT NULL DEFAULT false,
  password_changed_at         timestamptz,
  last_login_at               timestamptz,
  last_login_ip               inet,
  terms_version               text,
  terms_accepted_at           timestamptz,
  privacy_version             text,
  privacy_accepted_at         timestamptz,
  marketing_consent_version   text,
  marketing_consent_at        timestamptz,
  age_confirmed_at            timestamptz,
  created_at                  timestamptz NOT NULL DEFAULT now(),
  updated_at                  timestamptz NOT NULL DEFAULT now(),
  deleted_at                  timestamptz,
  CONSTRAINT users_email_key UNIQUE (email),
  -- Consent is recorded as a (version, time) pair: one without the other is meaningless.
  CONSTRAINT users_terms_consent_pair CHECK ((terms_version IS NULL) = (terms_accepted_at IS NULL)),
  CONSTRAINT users_privacy_consent_pair CHECK ((privacy_version IS NULL) = (privacy_accepted_at IS NULL)),
  CONSTRAINT users_marketing_consent_pair CHECK ((marketing_consent_version IS NULL) = (marketing_consent_at IS NULL))
);
CREATE INDEX users_created_at_id_idx ON users (created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX users_locked_until_idx ON users (locked_until) WHERE locked_until IS NOT NULL;
CREATE TRIGGER users_touch_updated_at BEFORE UPDATE ON users
  FOR EACH ROW EXECUTE FUNCTION platform_touch_updated_at();

CREATE TABLE memberships (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  -- RESTRICT: erasing a user must first remove their memberships (and hand over ownership).
  user_id          uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
  role             membership_role NOT NULL DEFAULT 'member',
  profile          jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(profile) = 'object'),
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT memberships_organization_user_key UNIQUE (organization_id, user_id)
);
CREATE INDEX memberships_user_id_idx ON memberships (user_id);
CREATE INDEX memberships_organization_owner_idx ON memberships (organization_id) WHERE role = 'owner';
CREATE INDEX memberships_organization_created_idx ON memberships (organization_id, created_at, id);
CREATE TRIGGER memberships_touch_updated_at BEFORE UPDATE ON memberships
  FOR EACH ROW EXECUTE FUNCTION platform_touch_updated_at();

-- At least one owner per organization. Runs after the change, so it counts the
-- final state; touching the organization row first serialises every owner change
-- of one organization (READ COMMITTED: the loser re-counts after the winner
-- commits; REPEATABLE READ/SERIALIZABLE: the loser gets serialization_failure).
-- SECURITY DEFINER so the count is not narrowed by the caller's row visibility and
-- platform_app needs no UPDATE grant on organizations for the lock.
-- A vanished organization (ON DELETE CASCADE from organizations) is not checked.
CREATE FUNCTION memberships_enforce_owner() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$
DECLARE
  org uuid := OLD.organization_id;
BEGIN
  IF OLD.role <> 'owner' THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.role = 'owner' AND NEW.organization_id = OLD.organization_id THEN
    RETURN NULL;
  END IF;
  UPDATE organizations SET updated_at = updated_at WHERE id = org;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM memberships WHERE organization_id = org AND role = 'owner') THEN
    RAISE EXCEPTION 'organization % must keep at least one owner', org
      USING ERRCODE = 'check_violation', CONSTRAINT = 'memberships_last_owner', TABLE = 'memberships';
  END IF;
  RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION memberships_enforce_owner() FROM PUBLIC;
CREATE TRIGGER memberships_last_owner AFTER UPDATE OF role, organization_id OR DELETE ON memberships
  FOR EACH ROW EXECUTE FUNCTION memberships_enforce_owner();

-- Row-level security -------------------------------------------------------
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;

CREATE POLICY memberships_select ON memberships FOR SELECT
  USING (organization_id = platform_current_organization_id() OR user_id = platform_current_user_id());
CREATE POLICY memberships_insert ON memberships FOR INSERT
  WITH CHECK (organization_id = platform_current_organization_id());
CREATE POLICY memberships_update ON memberships FOR UPDATE
  USING (organization_id = platform_current_organization_id())
  WITH CHECK (organization_id = platform_current_organization_id());
CREATE POLICY memberships_delete ON memberships FOR DELETE
  USING (organization_id = platform_current_organization_id());

CREATE POLICY organizations_select ON organizations FOR SELECT
  USING (
    id = platform_current_organization_id()
    OR EXISTS (SELECT 1 FROM memberships m WHERE m.organization_id = organizations.id AND m.user_id = platform_current_user_id())
  );
CREATE POLICY organizations_update ON organizations FOR UPDATE
  USING (id = platform_current_organization_id())
  WITH CHECK (id = platform_current_organization_id());

CREATE POLICY users_select ON users FOR SELECT
  USING (
    id = platform_current_user_id()
    OR EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id AND m.organization_id = platform_current_organization_id())
  );
CREATE POLICY users_update ON users FOR UPDATE
  USING (id = platform_current_user_id())
  WITH CHECK (id = platform_current_user_id());

GRANT SELECT, UPDATE (name, tier, settings, credits, deleted_at) ON organizations TO platform_app;
GRANT SELECT ON users TO platform_app;
-- Self-service columns only: status, lockout and password changes are privileged flows.
GRANT UPDATE (display_name, marketing_consent_version, marketing_consent_at, last_login_at, last_login_ip) ON users TO platform_app;
GRANT SELECT, INSERT, UPDATE (role, profile), DELETE ON memberships TO platform_app;
