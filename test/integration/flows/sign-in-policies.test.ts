import 'reflect-metadata';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { AccountStateError } from '../../../src/errors.js';
import { expectSignedIn } from '../../../src/flows/auth/expect-signed-in.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { AuditRepository } from '../../../src/postgres/repositories/audit-repository.js';
import { SecuritySettingsRepository, type SecuritySettingsPatch } from '../../../src/postgres/repositories/security-settings-repository.js';
import { createTenantContext, type TenantContext } from '../../../src/tenancy/tenant-context.js';
import { requireStores } from '../../support/require-stores.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import { type FlowHarness } from '../../support/flow-harness.js';
import { test } from '../../support/fixtures.js';

const client = { ip: '203.0.113.40', userAgent: 'vitest' };

// Issue 20: per-organization session and password policies at sign-in, and the audit trail's outcome columns.
describe.skipIf(!requireStores('postgres', 'redis'))('sign-in policies', () => {
  let owner: PostgresConnection['ownerPool'];
  test.beforeAll(async ({ flow: h }) => {
    owner = h.platform.resolve(PostgresConnection).ownerPool;
  });

  async function userWith(
    h: FlowHarness,
    patch: SecuritySettingsPatch,
  ): Promise<{ email: string; userId: string; organizationId: string; ctx: TenantContext }> {
    const u = await h.user();
    const ctx = createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner' });
    if (Object.keys(patch).length > 0) await h.platform.resolve(SecuritySettingsRepository).update(ctx, patch);
    return { ...u, ctx };
  }
  const liveSessions = (userId: string) =>
    owner.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM sessions WHERE user_id = ${userId} AND revoked_at IS NULL`);

  test('default max_concurrent_sessions 5 (seed CAP Platform): the 6th and 7th sign-in revoke the oldest, audited', async ({ flow: h }) => {
    const u = await userWith(h, {});
    expect(await h.platform.resolve(SecuritySettingsRepository).get(u.ctx)).toMatchObject({ allowConcurrentSessions: true, maxConcurrentSessions: 5 });
    const sessions = [];
    for (let i = 0; i < 7; i++) sessions.push(expectSignedIn(await h.signIn.login(u.email, PASSWORD, client)));
    expect(await liveSessions(u.userId)).toBe(5);
    for (const old of sessions.slice(0, 2)) {
      await expect(h.validator.validate({ userId: u.userId, jti: old.accessTokenJti })).rejects.toMatchObject({ code: 'TOKEN_REVOKED' });
    }
    for (const recent of sessions.slice(2))
      expect((await h.validator.validate({ userId: u.userId, jti: recent.accessTokenJti })).sessionId).toBe(recent.sessionId);
    const events = await h.auditEvents(u.ctx);
    const limited = events.filter((e) => e.eventType === 'auth.session.revoked' && e.details.reason === 'concurrent_session_limit');
    expect(limited.map((e) => e.details.sessionId).sort()).toEqual(
      sessions
        .slice(0, 2)
        .map((s) => s.sessionId)
        .sort(),
    );
  });

  test('allow_concurrent_sessions false: one session; and the limit holds under concurrent sign-ins', async ({ flow: h }) => {
    const single = await userWith(h, { allowConcurrentSessions: false });
    const first = expectSignedIn(await h.signIn.login(single.email, PASSWORD, client));
    const second = expectSignedIn(await h.signIn.login(single.email, PASSWORD, client));
    await expect(h.validator.validate({ userId: single.userId, sessionId: first.sessionId })).rejects.toMatchObject({ code: 'TOKEN_REVOKED' });
    expect((await h.validator.validate({ userId: single.userId, sessionId: second.sessionId })).sessionId).toBe(second.sessionId);

    // 4 at once: below the lockout threshold, whose attempt reservation refuses a larger parallel burst (PasswordGate).
    const three = await userWith(h, { maxConcurrentSessions: 2 });
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => h.signIn.login(three.email, PASSWORD, client)));
    expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    expect(await liveSessions(three.userId)).toBe(2);
  });

  test('password max_age_days: an older password answers password_change_required after the right password; without the setting it signs in', async ({
    flow: h,
  }) => {
    const aged = await userWith(h, { passwordMaxAgeDays: 1 });
    await owner.query(sql.unsafe`UPDATE users SET password_changed_at = now() - interval '100 days' WHERE id = ${aged.userId}`);
    // A ticket for PasswordChange.completeRequiredChange and no session; a caller that cannot use it gets the old error.
    const result = await h.signIn.login(aged.email, PASSWORD, client);
    expect(result).toMatchObject({ status: 'password_change_required', reason: 'max_age' });
    expect(() => expectSignedIn(result)).toThrow(AccountStateError);
    // A wrong password still answers like any wrong password: the age is told only after the right one.
    await expect(h.signIn.login(aged.email, `${PASSWORD}x`, client)).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });

    const fresh = await userWith(h, { passwordMaxAgeDays: 1 });
    expect((await h.signIn.login(fresh.email, PASSWORD, client)).status).toBe('signed_in');
    // NIST SP 800-63B 5.1.1.2: no periodic rotation unless the organization opts in.
    const unset = await userWith(h, {});
    await owner.query(sql.unsafe`UPDATE users SET password_changed_at = now() - interval '1000 days' WHERE id = ${unset.userId}`);
    expect((await h.signIn.login(unset.email, PASSWORD, client)).status).toBe('signed_in');
  });

  test('audit_log: failed sign-ins are failures with their reason, successes are successes; an index serves event_type', async ({ flow: h }) => {
    const u = await userWith(h, {});
    await h.signIn.login(u.email, 'Wrong-password-123', client).catch(() => undefined);
    expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
    const events = await h.auditEvents(u.ctx);
    expect(events.find((e) => e.eventType === 'auth.login.succeeded')).toMatchObject({ outcome: 'success', failureReason: null });
    // The failed attempt's event has no organization yet (before the target is chosen): read it as the owner.
    const failed = await owner.one(sql.type(z.object({ outcome: z.string().nullable(), failure_reason: z.string().nullable() }))`
      SELECT outcome, failure_reason FROM audit_log WHERE event_type = 'auth.login.failed' AND actor_user_id = ${u.userId}`);
    expect(failed).toEqual({ outcome: 'failure', failure_reason: 'wrong_password' });
    // Backward compatible: an event without the new fields is still accepted.
    expect(h.platform.resolve(AuditRepository).validate({ eventType: 'app.custom', details: {} }, 0)).toMatchObject({ eventType: 'app.custom' });
    await expect(async () => h.platform.resolve(AuditRepository).validate({ eventType: 'app.custom', failureReason: 'x' }, 0)).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    const indexes = await owner.anyFirst(
      sql.type(
        z.object({ indexdef: z.string() }),
      )`SELECT indexdef FROM pg_indexes WHERE tablename = 'audit_log' AND indexname = 'audit_log_event_type_created_idx'`,
    );
    expect(indexes[0]).toContain('(event_type, created_at DESC)');
  });
});
