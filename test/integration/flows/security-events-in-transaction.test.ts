import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { expectSignedIn } from '../../../src/flows/auth/expect-signed-in.js';
import { MfaManagement } from '../../../src/flows/auth/mfa-management.js';
import { MfaEnrollment } from '../../../src/flows/auth/mfa-enrollment.js';
import { OAuthSignIn } from '../../../src/flows/auth/oauth-sign-in.js';
import { PasswordReset } from '../../../src/flows/auth/password-reset.js';
import { PasswordResetRequest } from '../../../src/flows/auth/password-reset-request.js';
import { EmailVerification } from '../../../src/flows/auth/email-verification.js';
import type { PasswordChangeRequiredResult } from '../../../src/flows/auth/password-change-tickets.js';
import { hashToken } from '../../../src/security/secret-token.js';
import { SignUpService } from '../../../src/flows/auth/sign-up-service.js';
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
  const tokenXmin = (table: 'verification_tokens' | 'mfa_challenges', token: string) =>
    owner.oneFirst(sql.type(xid)`SELECT xmin::text AS x FROM ${sql.identifier([table])} WHERE token_hash = ${sql.binary(hashToken(token))}`);
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
    // The session the change ends is revoked by the change's own transaction: no crash can leave the new password with it live.
    expect(otherXmin).toBe(userXmin);

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

  test('password reset: the password, its event and the revocation of every session', async ({ flow: h }) => {
    const u = await h.user();
    const sessions = await Promise.all([1, 2].map(async () => expectSignedIn(await h.signIn.login(u.email, PASSWORD, client)).sessionId));
    await h.platform.resolve(PasswordResetRequest).requestPasswordReset(u.email);
    await h.platform.resolve(PasswordResetRequest).settled();
    const token = h.notifier.sent.filter((m) => m.userId === u.userId).at(-1)!.token!;
    expect(await h.platform.resolve(PasswordReset).resetPassword(token, NEW_PASSWORD)).toEqual({ userId: u.userId, revokedSessions: 2 });
    const userXmin = await owner.oneFirst(sql.type(xid)`SELECT xmin::text AS x FROM users WHERE id = ${u.userId}`);
    expect(await eventXmins('auth.password.reset', u.userId)).toEqual([userXmin]);
    const sessionXmins = await owner.anyFirst(sql.type(xid)`SELECT DISTINCT xmin::text AS x FROM sessions WHERE id = ANY(${sql.array(sessions, 'uuid')})`);
    expect(sessionXmins).toEqual([userXmin]);
    expect(await eventXmins('auth.session.revoked', u.userId)).toEqual([userXmin, userXmin]);
    // The link is spent by the same transaction: no crash can spend it without the change.
    expect(await tokenXmin('verification_tokens', token)).toBe(userXmin);
  });

  test('email verification: the spent token, the activated user and auth.email.verified', async ({ flow: h }) => {
    const u = await h.user({ verified: false });
    await h.platform.resolve(EmailVerification).requestEmailVerification(u.userId);
    const token = h.notifier.sent.filter((m) => m.userId === u.userId && m.kind === 'email_verification').at(-1)!.token;
    await h.platform.resolve(EmailVerification).verifyEmail(token);
    const userXmin = await owner.oneFirst(sql.type(xid)`SELECT xmin::text AS x FROM users WHERE id = ${u.userId}`);
    expect(await tokenXmin('verification_tokens', token)).toBe(userXmin);
    expect(await eventXmins('auth.email.verified', u.userId)).toEqual([userXmin]);
  });

  test('required password change: the spent ticket, the new password and auth.password.changed', async ({ flow: h }) => {
    const u = await h.user();
    await owner.query(sql.unsafe`UPDATE users SET must_change_password = true WHERE id = ${u.userId}`);
    const { passwordChangeTicket } = (await h.signIn.login(u.email, PASSWORD, client)) as PasswordChangeRequiredResult;
    await h.passwordChange.completeRequiredChange(passwordChangeTicket, NEW_PASSWORD, client);
    // The sign-in after the change records the login on the users row: password_history holds the change's xid.
    const changeXmin = await owner.oneFirst(sql.type(xid)`SELECT xmin::text AS x FROM password_history WHERE user_id = ${u.userId}`);
    expect(await tokenXmin('mfa_challenges', passwordChangeTicket)).toBe(changeXmin);
    expect(await eventXmins('auth.password.changed', u.userId)).toEqual([changeXmin]);
  });

  test('account creation: user, consents, organization, membership, security settings and auth.signup; OAuth: with the identity', async ({ flow: h }) => {
    // The users row is left out for OAuth: the sign-in that follows the creation records the login on it.
    const accountXmins = (userId: string, withUserRow: boolean) =>
      owner.anyFirst(sql.type(xid)`
        SELECT DISTINCT x FROM (
          SELECT xmin::text AS x FROM users WHERE id = ${userId} AND ${withUserRow}
          UNION ALL SELECT xmin::text FROM consent_events WHERE user_id = ${userId}
          UNION ALL SELECT xmin::text FROM identities WHERE user_id = ${userId}
          UNION ALL SELECT m.xmin::text FROM memberships m WHERE m.user_id = ${userId}
          UNION ALL SELECT o.xmin::text FROM organizations o JOIN memberships m ON m.organization_id = o.id WHERE m.user_id = ${userId}
          UNION ALL SELECT s.xmin::text FROM organization_security_settings s JOIN memberships m ON m.organization_id = s.organization_id WHERE m.user_id = ${userId}
          UNION ALL SELECT xmin::text FROM audit_log WHERE event_type = 'auth.signup' AND actor_user_id = ${userId}) t`);
    const { user } = await h.platform.resolve(SignUpService).createAccount({
      email: `xmin-${randomUUID().slice(0, 8)}@example.test`,
      password: PASSWORD,
      organizationName: 'Xmin',
      ageConfirmed: true,
      termsVersion: 't1',
      emailVerified: true,
    });
    expect(await eventXmins('auth.signup', user.id)).toHaveLength(1);
    expect(await accountXmins(user.id, true)).toHaveLength(1);

    const oauth = expectSignedIn(
      await h.platform
        .resolve(OAuthSignIn)
        .signIn({ provider: 'google', providerUserId: `sub-${randomUUID()}`, email: `xmin-${randomUUID().slice(0, 8)}@example.test`, emailVerified: true }),
    );
    expect(oauth.outcome).toBe('created');
    expect(await eventXmins('auth.signup', oauth.user.id)).toHaveLength(1);
    expect(await accountXmins(oauth.user.id, false)).toHaveLength(1);
  });
});
