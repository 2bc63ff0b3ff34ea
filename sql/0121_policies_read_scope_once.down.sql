-- Reverts 0121: the policies call the scope functions directly again (evaluated per row).
-- PostgreSQL deparses the wrapped call as ( SELECT f() AS f); this unwraps exactly that form.
DO $$
DECLARE
  p record;
  unwrap constant text := '\(\s*SELECT\s+(platform_current_(?:organization_id|user_id|admin_actor))\(\)(?:\s+AS\s+\w+)?\s*\)';
BEGIN
  FOR p IN
    SELECT tablename, policyname, qual, with_check FROM pg_policies
    WHERE schemaname = 'public' AND (qual ~ 'platform_current_' OR with_check ~ 'platform_current_')
  LOOP
    IF p.qual IS NOT NULL THEN
      EXECUTE format('ALTER POLICY %I ON %I USING (%s)', p.policyname, p.tablename, regexp_replace(p.qual, unwrap, '\1()', 'g'));
    END IF;
    IF p.with_check IS NOT NULL THEN
      EXECUTE format('ALTER POLICY %I ON %I WITH CHECK (%s)', p.policyname, p.tablename, regexp_replace(p.with_check, unwrap, '\1()', 'g'));
    END IF;
  END LOOP;
END
$$;
