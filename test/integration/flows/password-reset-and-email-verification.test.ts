import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { describe, expect } from 'vitest';
import { InvalidCredentialsError, RateLimitedError, ValidationError } from '../../../src/errors.js';
import { PasswordResetRequest } from '../../../src/flows/auth/password-reset-request.js';
import { PasswordReset } from '../../../src/flows/auth/password-reset.js';
import { EmailVerification } from '../../../src/flows/auth/email-verification.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import { expectSignedIn } from '../../../src/flows/auth/expect-signed-in.js';
import { requireStores } from '../../support/require-stores.js';
import { test } from '../../support/fixtures.js';

describe.skipIf(!requireStores('postgres', 'redis'))('PasswordResetRequest, PasswordReset, EmailVerification', () => {
  let resetRequest: PasswordResetRequest;
  let reset: PasswordReset;
  let emailVerification: EmailVerification;

  test.beforeAll(async ({ flow: h }) => {
    resetRequest = h.platform.resolve(PasswordResetRequest);
    reset = h.platform.resolve(PasswordReset);
    emailVerification = h.platform.resolve(EmailVerification);
  });

  test('answers a reset request the same for known and unknown emails, and mails only the known', async ({ flow: h }) => {
    const u = await h.user();
    const before = h.notifier.sent.length;
    const known = await resetRequest.requestPasswordReset(u.email, { ip: '203.0.113.20' });
    const unknown = await resetRequest.requestPasswordReset(`ghost-${randomUUID().slice(0, 6)}@example.test`, { ip: '203.0.113.20' });
    expect(known).toEqual(unknown);
    await resetRequest.settled();
    const sent = h.notifier.sent.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ kind: 'password_reset', userId: u.userId, email: u.email });
  });

  test('resets once: policy and history enforced, every session revoked, the new password works', async ({ flow: h }) => {
    const u = await h.user();
    const session = expectSignedIn(await h.signIn.login(u.email, PASSWORD, {}));
    await resetRequest.requestPasswordReset(u.email);
    await resetRequest.settled();
    const token = h.notifier.sent.filter((m) => m.userId === u.userId).at(-1)!.token;

    // Too weak: refused before the token is spent.
    await expect(reset.resetPassword(token, 'short')).rejects.toMatchObject({ fields: ['newPassword'] });
    const newPassword = 'Granite-Meadow-82-sky';
    expect(await reset.resetPassword(token, newPassword)).toEqual({ userId: u.userId, revokedSessions: 1 });
    await expect(reset.resetPassword(token, 'Another-Valid-93-pass')).rejects.toMatchObject({ reason: 'consumed' });
    await expect(h.validator.validate({ userId: u.userId, sessionId: session.sessionId })).rejects.toMatchObject({ reason: 'revoked' });
    await expect(h.signIn.login(u.email, PASSWORD, {})).rejects.toBeInstanceOf(InvalidCredentialsError);
    expectSignedIn(await h.signIn.login(u.email, newPassword, {}));

    // History: the previous password may not come back.
    await resetRequest.requestPasswordReset(u.email);
    await resetRequest.settled();
    const second = h.notifier.sent.filter((m) => m.userId === u.userId).at(-1)!.token;
    const reused = await reset.resetPassword(second, PASSWORD).catch((e: unknown) => e);
    expect(reused).toBeInstanceOf(ValidationError);
    expect((reused as ValidationError).issues.map((i) => i.code)).toContain('reused');
    await expect(reset.resetPassword('x'.repeat(43), newPassword)).rejects.toMatchObject({ reason: 'invalid' });
  });

  test('verifies an email and activates the account', async ({ flow: h }) => {
    const u = await h.user({ verified: false });
    await emailVerification.requestEmailVerification(u.userId);
    const token = h.notifier.sent.filter((m) => m.userId === u.userId && m.kind === 'email_verification').at(-1)!.token;
    const user = await emailVerification.verifyEmail(token);
    expect(user.status).toBe('active');
    expect(user.emailVerifiedAt).toBeInstanceOf(Date);
    expectSignedIn(await h.signIn.login(u.email, PASSWORD, {}));
  });

  test('rate-limits reset requests per IP, whatever the email', async () => {
    const limit = 20;
    const ip = '198.51.100.77';
    const results = await Promise.allSettled(Array.from({ length: limit + 5 }, (_, i) => resetRequest.requestPasswordReset(`n${i}@example.test`, { ip })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(limit);
    expect(results.filter((r) => r.status === 'rejected' && r.reason instanceof RateLimitedError)).toHaveLength(5);
    await resetRequest.settled();
  });
});
