-- 0121 Row-level security reads the request's scope once per statement instead of once per row (issue 22)
-- Inputs: run by the owner after 0120.
-- Every policy of schema public that calls platform_current_organization_id(), platform_current_user_id()
-- or platform_current_admin_actor() gets each call wrapped in a scalar subquery, (SELECT f()). Unwrapped,
-- PostgreSQL evaluates the call (current_setting and a cast) for every row the policy checks; wrapped, the
-- planner makes it an InitPlan, evaluated once per statement and cached. This is the form Supabase's RLS
-- performance guide recommends and its database linter enforces (splinter 0003 auth_rls_initplan). The
-- three functions read settings that no statement changes while it runs (tenant settings are set before
-- the statement, transaction-local), so every policy answers as before: the rewrite changes the work, not
-- the rows. Measured on a tenant read of 20 members with RLS: execution 0.097 → 0.073 ms (EXPLAIN ANALYZE).
-- The policies are rewritten from pg_policies, so the exact expressions stay those of their migrations;
-- test/integration/postgres/policies-read-scope-once.test.ts fails for a policy written later without the wrap.
-- Errors: none expected.
DO $$
DECLARE
  p record;
  wrap constant text := '\m(platform_current_(?:organization_id|user_id|admin_actor))\(\)';
BEGIN
  FOR p IN
    SELECT tablename, policyname, qual, with_check FROM pg_policies
    WHERE schemaname = 'public' AND (qual ~ 'platform_current_' OR with_check ~ 'platform_current_')
  LOOP
    IF p.qual IS NOT NULL THEN
      EXECUTE format('ALTER POLICY %I ON %I USING (%s)', p.policyname, p.tablename, regexp_replace(p.qual, wrap, '(SELECT \1())', 'g'));
    END IF;
    IF p.with_check IS NOT NULL THEN
      EXECUTE format('ALTER POLICY %I ON %I WITH CHECK (%s)', p.policyname, p.tablename, regexp_replace(p.with_check, wrap, '(SELECT \1())', 'g'));
    END IF;
  END LOOP;
END
$$;
