-- Down of 0001. The role platform_app is cluster-wide and may serve other
-- databases, so it is only stripped of this database's grants, never dropped.
DROP FUNCTION IF EXISTS platform_touch_updated_at();
DROP FUNCTION IF EXISTS platform_current_user_id();
DROP FUNCTION IF EXISTS platform_current_organization_id();
REVOKE USAGE ON SCHEMA public FROM platform_app;
DO $$ BEGIN EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM platform_app', current_database()); END $$;
DROP EXTENSION IF EXISTS citext;
