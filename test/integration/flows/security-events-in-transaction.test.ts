import 'reflect-metadata';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { expectSignedIn } from '../../../src/flows/auth/expect-signed-in.js';
import { MfaManagement } from '../../../src/flows/auth/mfa-management.js';
import { MfaEnrollment } from '../../../src/flows/auth/mfa-enrollment.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { Totp } from '../../../src/security/totp.js';
import { requireStores } from '../../support/require-stores.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import { test } from '../../support/fixtures.js';

const client = { ip: '203.0.113.30', userAgent: 'vitest' };
const NEW_PASSWORD = 'Another-Quartz-Lantern-91';

/**
 * Issue 16: "security events belong in the transaction of the change they record". PostgreSQL stamps
 * every row a transaction writes with that transaction's id (`xmin`, PostgreSQL 15 manual, "System
 * Columns"): an event row whose xmin equals the changed row's was written by the same transaction, so it
 * exists exactly when the change does — no batching window, no loss on SIGKILL.
 */
describe.skipIf(!requireStores('postgres', 'redis'))('security events commit in the transaction of their change', () => {
  let owner: PostgresConnection['ownerPool'];
  const totp = new Totp();

  test.beforeAll(async ({ flow: h }) => {
    owner = h.platform.resolve(PostgresConnection).ownerPool;
  });

  const xid = z.object({ x: z.string() });
  const eventXmins = (eventType: string, userId: string) =>
    owner.anyFirst(sql.type(xid)`
      SELECT xmin::text AS x FROM audit_log
      WHERE event_type = ${eventType} AND (actor_user_id = ${userId} OR details->>'userId' = ${userId} OR details->>'targetUserId' = ${userId})`);

  test('password change, logout, suspension', async ({ flow: h }) => {
    const u = await h.user();
    const [mine, other] = await Promise.all([1, 2].map(async () => expectSignedIn(await h.signIn.login(u.email, PASSWORD, client))));
    await h.passwordChange.changePassword({ userId: u.userId, sessionId: mine!.sessionId }, PASSWORD, NEW_PASSWORD, client);
    const userXmin = await owner.oneFirst(sql.type(xid)`SELECT xmin::text AS x FROM users WHERE id = ${u.userId}`);
    expect(await eventXmins('auth.password.changed', u.userId)).toEqual([userXmin]);
    const otherXmin = await owner.oneFirst(sql.type(xid)`SELECT xmin::text AS x FROM sessions WHERE id = ${other!.sessionId}`);
    expect(await eventXmins('auth.session.revoked', u.userId)).toEqual([otherXmin]);

    await h.revoker.logout(mine!.sessionId);
    const mineXmin = await owner.oneFirst(sql.type(xid)`SELECT xmin::text AS x FROM sessions WHERE id = ${mine!.sessionId}`);
    expect([...(await eventXmins('auth.session.revoked', u.userId))].sort()).toEqual([otherXmin, mineXmin].sort());

    await h.revoker.suspendUser(u.userId, 'fraud review');
    const suspendedXmin = await owner.oneFirst(sql.type(xid)`SELECT xmin::text AS x FROM users WHERE id = ${u.userId}`);
    expect(await eventXmins('auth.user.suspended', u.userId)).toEqual([suspendedXmin]);
  });

  test('MFA enabled, recovery code used, recovery codes regenerated, disabled', async ({ flow: h }) => {
    const management = h.platform.resolve(MfaManagement);
    const enrollment = h.platform.resolve(MfaEnrollment);
    const u = await h.user();
    const session = expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
    const { secret } = await enrollment.beginTotpEnrollment(session.context);
    const { recoveryCodes } = await enrollment.confirmTotpEnrollment(session.context, await totp.generate(secret));
    const enabledXmin = await owner.oneFirst(sql.type(xid)`SELECT xmin::text AS x FROM user_mfa WHERE user_id = ${u.userId}`);
    expect(await eventXmins('auth.mfa.enabled', u.userId)).toEqual([enabledXmin]);

    const challenge = await h.signIn.login(u.email, PASSWORD, client);
    if (challenge.status !== 'mfa_required') throw new Error(`expected mfa_required, got ${challenge.status}`);
    await h.mfaSignIn.completeMfaLogin(challenge.challengeToken, { recoveryCode: recoveryCodes[0]! }, client);
    const usedXmin = await owner.oneFirst(sql.type(xid)`SELECT xmin::text AS x FROM mfa_recovery_codes WHERE user_id = ${u.userId} AND used_at IS NOT NULL`);
    expect(await eventXmins('auth.mfa.recovery_code_used', u.userId)).toEqual([usedXmin]);

    const regenerated = await management.regenerateRecoveryCodes(session.context, await totp.generate(secret, new Date(Date.now() + 30_000)));
    const codesXmins = await owner.anyFirst(sql.type(xid)`SELECT DISTINCT xmin::text AS x FROM mfa_recovery_codes WHERE user_id = ${u.userId}`);
    expect(await eventXmins('auth.mfa.recovery_codes_regenerated', u.userId)).toEqual(codesXmins);

    await management.disableTotp(session.context, { recoveryCode: regenerated.recoveryCodes[0]! });
    // The rows are deleted with the event's transaction; without a flush of the batching writer, the event is there.
    expect(await eventXmins('auth.mfa.disabled', u.userId)).toHaveLength(1);
  });
});
