import 'reflect-metadata';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { InvalidCredentialsError, TokenError, ValidationError } from '../../../src/errors.js';
import { expectSignedIn } from '../../../src/flows/auth/expect-signed-in.js';
import { MfaEnrollment } from '../../../src/flows/auth/mfa-enrollment.js';
import type { PasswordChangeRequiredResult } from '../../../src/flows/auth/password-change-tickets.js';
import type { LoginResult } from '../../../src/flows/auth/password-sign-in.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { SecuritySettingsRepository } from '../../../src/postgres/repositories/security-settings-repository.js';
import { hashToken } from '../../../src/security/secret-token.js';
import { TOTP_PERIOD_SECONDS, Totp } from '../../../src/security/totp.js';
import { createTenantContext } from '../../../src/tenancy/tenant-context.js';
import { requireStores } from '../../support/require-stores.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import { test } from '../../support/fixtures.js';
import type { FlowHarness } from '../../support/flow-harness.js';

const client = { ip: '203.0.113.9', userAgent: 'vitest' };
const NEW_PASSWORD = 'Lantern-Orchid-47-glacier';

function ticketOf(result: LoginResult | { readonly status: string }): PasswordChangeRequiredResult {
  if (result.status !== 'password_change_required') throw new Error(`expected password_change_required, got ${result.status}`);
  return result as PasswordChangeRequiredResult;
}

describe.skipIf(!requireStores('postgres', 'redis'))('a required password change at sign-in (ticket, then PasswordChange.completeRequiredChange)', () => {
  let h: FlowHarness;
  let pg: PostgresConnection;

  test.beforeAll(async ({ flow }) => {
    h = flow;
    pg = h.platform.resolve(PostgresConnection);
  });

  const mustChange = async () => {
    const u = await h.user();
    await pg.ownerPool.query(sql.unsafe`UPDATE users SET must_change_password = true WHERE id = ${u.userId}`);
    return { ...u, ctx: createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner' }) };
  };
  const sessionCount = (userId: string) =>
    pg.ownerPool.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM sessions WHERE user_id = ${userId} AND revoked_at IS NULL`);
  const mustChangeFlag = (userId: string) =>
    pg.ownerPool.oneFirst(sql.type(z.object({ m: z.boolean() }))`SELECT must_change_password AS m FROM users WHERE id = ${userId}`);

  test('answers a ticket and no session after the right password only; the ticket is stored hashed and is no session or refresh token', async ({ flow: h }) => {
    const u = await mustChange();
    // A wrong password answers like any wrong password: the required change is told only after the right one.
    await expect(h.signIn.login(u.email, `${PASSWORD}x`, client)).rejects.toBeInstanceOf(InvalidCredentialsError);
    const result = ticketOf(await h.signIn.login(u.email, PASSWORD, client));
    expect(result).toMatchObject({ reason: 'must_change' });
    expect(Object.keys(result)).not.toContain('sessionId');
    expect(Object.keys(result)).not.toContain('refreshToken');
    expect(result.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(5 * 60_000);
    expect(await sessionCount(u.userId)).toBe(0);
    // Only the SHA-256 is stored (OWASP ASVS v4 2.5.x: recovery secrets are not kept in plaintext).
    const row = await pg.ownerPool.one(sql.type(z.object({ token_hash: z.instanceof(Buffer), purpose: z.string() }))`
      SELECT token_hash, purpose FROM mfa_challenges WHERE user_id = ${u.userId} AND consumed_at IS NULL`);
    expect(row.purpose).toBe('password_change');
    expect(row.token_hash.equals(hashToken(result.passwordChangeTicket))).toBe(true);
    // Grants nothing else: not a refresh token, not an MFA challenge.
    await expect(h.rotation.refresh(result.passwordChangeTicket)).rejects.toBeInstanceOf(TokenError);
    await expect(h.mfaSignIn.completeMfaLogin(result.passwordChangeTicket, { code: '123456' }, client)).rejects.toMatchObject({ reason: 'invalid' });
    // A caller that cannot use a ticket keeps the former answer.
    expect(() => expectSignedIn(result as LoginResult)).toThrow(expect.objectContaining({ state: 'password_change_required' }));
  });

  test('checks the new password as a normal change, keeps the ticket on a refusal, then signs in once and audits', async ({ flow: h }) => {
    const u = await mustChange();
    const { passwordChangeTicket } = ticketOf(await h.signIn.login(u.email, PASSWORD, client));
    const same = await h.passwordChange.completeRequiredChange(passwordChangeTicket, PASSWORD, client).catch((e: unknown) => e);
    expect(same).toBeInstanceOf(ValidationError);
    expect((same as ValidationError).issues).toContainEqual(expect.objectContaining({ path: 'newPassword', code: 'reused' }));
    await expect(h.passwordChange.completeRequiredChange(passwordChangeTicket, 'short', client)).rejects.toBeInstanceOf(ValidationError);

    const session = await h.passwordChange.completeRequiredChange(passwordChangeTicket, NEW_PASSWORD, client);
    expect(session).toMatchObject({ status: 'signed_in', user: { id: u.userId, mustChangePassword: false } });
    await expect(h.validator.validate({ userId: u.userId, sessionId: session.sessionId })).resolves.toMatchObject({ sessionId: session.sessionId });
    await expect(h.rotation.refresh(session.refreshToken, client)).resolves.toMatchObject({ sessionId: session.sessionId });
    expect(await mustChangeFlag(u.userId)).toBe(false);
    // Single use.
    await expect(h.passwordChange.completeRequiredChange(passwordChangeTicket, 'Another-Fresh-Password-91', client)).rejects.toMatchObject({
      reason: 'consumed',
    });
    await expect(h.signIn.login(u.email, PASSWORD, client)).rejects.toBeInstanceOf(InvalidCredentialsError);
    expect((await h.signIn.login(u.email, NEW_PASSWORD, client)).status).toBe('signed_in');

    const events = await h.auditEvents(u.ctx);
    expect(events.find((e) => e.eventType === 'auth.login.password_change_required')).toMatchObject({ details: { reason: 'must_change', mfa: false } });
    expect(events.find((e) => e.eventType === 'auth.password.changed')).toMatchObject({ actorUserId: u.userId, details: { via: 'required_change' } });
    expect(events.find((e) => e.eventType === 'auth.login.succeeded' && e.details['sessionId'] === session.sessionId)).toMatchObject({
      details: { via: 'password_change' },
    });
  });

  test('two completions at once: one changes the password and signs in, the other is refused', async ({ flow: h }) => {
    const u = await mustChange();
    const { passwordChangeTicket } = ticketOf(await h.signIn.login(u.email, PASSWORD, client));
    const results = await Promise.allSettled([
      h.passwordChange.completeRequiredChange(passwordChangeTicket, NEW_PASSWORD, client),
      h.passwordChange.completeRequiredChange(passwordChangeTicket, 'Second-Racer-Password-58', client),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toBeInstanceOf(TokenError);
    expect(await sessionCount(u.userId)).toBe(1);
  });

  test('an expired ticket is refused', async ({ flow: h }) => {
    const u = await mustChange();
    const { passwordChangeTicket } = ticketOf(await h.signIn.login(u.email, PASSWORD, client));
    await pg.ownerPool.query(sql.unsafe`UPDATE mfa_challenges SET expires_at = now() - interval '1 second' WHERE user_id = ${u.userId}`);
    await expect(h.passwordChange.completeRequiredChange(passwordChangeTicket, NEW_PASSWORD, client)).rejects.toMatchObject({ reason: 'expired' });
    expect(await mustChangeFlag(u.userId)).toBe(true);
  });

  test('a password past max age: the sessions from before end with the change', async ({ flow: h }) => {
    const u = await h.user();
    const ctx = createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner' });
    const old = expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
    await h.platform.resolve(SecuritySettingsRepository).update(ctx, { passwordMaxAgeDays: 1 });
    await pg.ownerPool.query(sql.unsafe`UPDATE users SET password_changed_at = now() - interval '2 days' WHERE id = ${u.userId}`);
    const ticket = ticketOf(await h.signIn.login(u.email, PASSWORD, client));
    expect(ticket.reason).toBe('max_age');
    const session = await h.passwordChange.completeRequiredChange(ticket.passwordChangeTicket, NEW_PASSWORD, client);
    await expect(h.validator.validate({ userId: u.userId, sessionId: old.sessionId })).rejects.toMatchObject({ reason: 'revoked' });
    await expect(h.validator.validate({ userId: u.userId, sessionId: session.sessionId })).resolves.toBeDefined();
  });

  test('with MFA enabled the second factor comes first (NIST SP 800-63B 6.1.2): challenge → ticket → session marked mfa', async ({ flow: h }) => {
    const enrollment = h.platform.resolve(MfaEnrollment);
    const totp = new Totp();
    const u = await h.user();
    const ctx = createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner' });
    const first = expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
    const { secret } = await enrollment.beginTotpEnrollment(first.context);
    await enrollment.confirmTotpEnrollment(first.context, await totp.generate(secret));
    await pg.ownerPool.query(sql.unsafe`UPDATE users SET must_change_password = true WHERE id = ${u.userId}`);

    const challenge = await h.signIn.login(u.email, PASSWORD, client);
    expect(challenge.status).toBe('mfa_required');
    if (challenge.status !== 'mfa_required') return;
    // The password alone gives no ticket: the change needs the second factor too.
    expect(
      await pg.ownerPool.oneFirst(sql.type(z.object({ n: z.number() }))`
      SELECT count(*)::int AS n FROM mfa_challenges WHERE user_id = ${u.userId} AND purpose = 'password_change'`),
    ).toBe(0);
    const code = await totp.generate(secret, new Date(Date.now() + TOTP_PERIOD_SECONDS * 1000));
    const ticket = ticketOf(await h.mfaSignIn.completeMfaLogin(challenge.challengeToken, { code }, client));
    const session = await h.passwordChange.completeRequiredChange(ticket.passwordChangeTicket, NEW_PASSWORD, client);
    expect(session.status).toBe('signed_in');
    const events = await h.auditEvents(ctx);
    expect(events.find((e) => e.eventType === 'auth.login.password_change_required')).toMatchObject({ details: { mfa: true } });
    expect(events.find((e) => e.eventType === 'auth.login.succeeded' && e.details['sessionId'] === session.sessionId)).toMatchObject({
      details: { via: 'password_change', mfa: true },
    });
  });
});
