-- 0006 personas, user persona preferences, voice cache metadata (tenant tables)
-- Voice audio itself lives outside PostgreSQL; voice_cache_entries only records
-- where it is and how to find it again (cache key = hash of persona voice + text).

CREATE TABLE personas (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  description      text CHECK (length(description) <= 2000),
  traits           jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(traits) = 'object'),
  voice            text CHECK (length(voice) <= 100),
  created_by       uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  deleted_at       timestamptz,
  -- Composite key target so preferences can prove persona and organization agree.
  CONSTRAINT personas_id_organization_key UNIQUE (id, organization_id)
);
CREATE UNIQUE INDEX personas_organization_name_key ON personas (organization_id, lower(name)) WHERE deleted_at IS NULL;
CREATE INDEX personas_organization_created_idx ON personas (organization_id, created_at, id);
CREATE INDEX personas_created_by_idx ON personas (created_by) WHERE created_by IS NOT NULL;
CREATE TRIGGER personas_touch_updated_at BEFORE UPDATE ON personas
  FOR EACH ROW EXECUTE FUNCTION platform_touch_updated_at();

CREATE TABLE user_persona_preferences (
  organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  persona_id       uuid NOT NULL,
  settings         jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(settings) = 'object'),
  is_default       boolean NOT NULL DEFAULT false,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, user_id, persona_id),
  CONSTRAINT user_persona_preferences_persona_fkey FOREIGN KEY (persona_id, organization_id)
    REFERENCES personas (id, organization_id) ON DELETE CASCADE
);
CREATE INDEX user_persona_preferences_persona_idx ON user_persona_preferences (persona_id, organization_id);
CREATE INDEX user_persona_preferences_user_idx ON user_persona_preferences (user_id);
CREATE UNIQUE INDEX user_persona_preferences_one_default_key ON user_persona_preferences (organization_id, user_id) WHERE is_default;
CREATE TRIGGER user_persona_preferences_touch_updated_at BEFORE UPDATE ON user_persona_preferences
  FOR EACH ROW EXECUTE FUNCTION platform_touch_updated_at();

CREATE TABLE voice_cache_entries (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  persona_id       uuid,
  cache_key        bytea NOT NULL CHECK (length(cache_key) = 32),
  storage_uri      text NOT NULL CHECK (length(storage_uri) BETWEEN 1 AND 2000),
  content_type     text NOT NULL CHECK (length(content_type) BETWEEN 1 AND 100),
  byte_size        bigint NOT NULL CHECK (byte_size >= 0),
  duration_ms      integer CHECK (duration_ms >= 0),
  hit_count        bigint NOT NULL DEFAULT 0 CHECK (hit_count >= 0),
  last_accessed_at timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT voice_cache_entries_organization_key_key UNIQUE (organization_id, cache_key),
  -- SET NULL on the persona column only would break the composite key, so deleting
  -- a persona removes its cached audio metadata too.
  CONSTRAINT voice_cache_entries_persona_fkey FOREIGN KEY (persona_id, organization_id)
    REFERENCES personas (id, organization_id) ON DELETE CASCADE
);
CREATE INDEX voice_cache_entries_persona_idx ON voice_cache_entries (persona_id, organization_id) WHERE persona_id IS NOT NULL;
CREATE INDEX voice_cache_entries_expires_at_idx ON voice_cache_entries (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX voice_cache_entries_last_accessed_idx ON voice_cache_entries (organization_id, last_accessed_at);

ALTER TABLE personas ENABLE ROW LEVEL SECURITY;
ALTER TABLE personas FORCE ROW LEVEL SECURITY;
ALTER TABLE user_persona_preferences ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_persona_preferences FORCE ROW LEVEL SECURITY;
ALTER TABLE voice_cache_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE voice_cache_entries FORCE ROW LEVEL SECURITY;

CREATE POLICY personas_tenant ON personas
  USING (organization_id = platform_current_organization_id())
  WITH CHECK (organization_id = platform_current_organization_id());
CREATE POLICY user_persona_preferences_owner ON user_persona_preferences
  USING (organization_id = platform_current_organization_id() AND user_id = platform_current_user_id())
  WITH CHECK (organization_id = platform_current_organization_id() AND user_id = platform_current_user_id());
CREATE POLICY voice_cache_entries_tenant ON voice_cache_entries
  USING (organization_id = platform_current_organization_id())
  WITH CHECK (organization_id = platform_current_organization_id());

GRANT SELECT, INSERT, UPDATE, DELETE ON personas, user_persona_preferences, voice_cache_entries TO platform_app;
