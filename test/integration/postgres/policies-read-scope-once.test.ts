import 'reflect-metadata';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { withTenant } from '../../../src/postgres/with-tenant.js';
import { test } from '../../support/fixtures.js';

/**
 * sql/0121: every row-level-security policy reads the request's scope through (SELECT f()), which
 * PostgreSQL plans as an InitPlan evaluated once per statement, instead of calling f() for every row it
 * checks. Outside truth: Supabase's RLS performance guide and its database linter, splinter 0003
 * "auth_rls_initplan" (a policy calling a scope function without the scalar subquery is flagged because
 * the function then runs once per row); the plan shapes asserted here are PostgreSQL's own EXPLAIN output.
 */
const SCOPE_FUNCTIONS = ['platform_current_organization_id', 'platform_current_user_id', 'platform_current_admin_actor'];
const policyRow = z.object({ policy: z.string(), expression: z.string() });
const planRow = z.object({ 'QUERY PLAN': z.string() });

describe('row-level-security policies read the scope once per statement (sql/0121)', () => {
  test('no policy of schema public calls a scope function outside a scalar subquery', async ({ postgres: h }) => {
    const policies = await h.postgres.ownerPool.any(sql.type(policyRow)`
      SELECT tablename || '.' || policyname AS policy, coalesce(qual, '') || ' ' || coalesce(with_check, '') AS expression
      FROM pg_policies WHERE schemaname = 'public'`);
    // The migrations' policies do use the scope functions: an empty list here would prove nothing.
    expect(policies.filter((p) => SCOPE_FUNCTIONS.some((f) => p.expression.includes(f))).length).toBeGreaterThan(50);
    // Every call to a scope function must be the body of a ( SELECT f() AS f) subquery, as PostgreSQL deparses it.
    const unwrapped = policies.filter((p) => {
      const calls = [...p.expression.matchAll(/platform_current_\w+\(\)/g)].length;
      const wrapped = [...p.expression.matchAll(/\(\s*SELECT platform_current_\w+\(\) AS platform_current_\w+\)/g)].length;
      return calls !== wrapped;
    });
    expect(unwrapped.map((p) => p.policy)).toEqual([]);
  });

  test("a tenant read's plan evaluates the scope in InitPlans, and the policies still confine the rows", async ({ postgres: h }) => {
    const a = await h.tenant();
    const b = await h.tenant();
    const plan = await withTenant(h.postgres.appPool, a, (tx) =>
      tx.any(sql.type(planRow)`EXPLAIN (COSTS OFF) SELECT organization_id FROM memberships WHERE role = 'owner'`),
    );
    const text = plan.map((r) => r['QUERY PLAN']).join('\n');
    expect(text).toContain('InitPlan');
    // The per-row filter compares with the InitPlans' results, never with a current_setting call.
    expect(text).not.toMatch(/Filter:.*current_setting/);
    const seen = await withTenant(h.postgres.appPool, a, (tx) =>
      tx.anyFirst(sql.type(z.object({ organization_id: z.string() }))`SELECT organization_id FROM memberships`),
    );
    expect(new Set(seen)).toEqual(new Set([a.organizationId]));
    expect(seen).not.toContain(b.organizationId);
  });
});
