import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { describe, expect } from 'vitest';
import { AccountStateError, RateLimitedError, TokenError } from '../../../src/errors.js';
import { expectSignedIn } from '../../../src/flows/auth/expect-signed-in.js';
import { PasswordlessSignIn } from '../../../src/flows/auth/passwordless-sign-in.js';
import { SessionRevoker } from '../../../src/flows/auth/session-revoker.js';
import { EmailSignInCodeRepository } from '../../../src/postgres/repositories/email-sign-in-code-repository.js';
import { IDENTITY_NOTIFIER } from '../../../src/tokens.js';
import { CapturingIdentityNotifier } from '../../support/auth-fixtures.js';
import { ownerQuery as ownerQueryOn } from '../../support/postgres-harness.js';
import { requireStores } from '../../support/require-stores.js';
import { type FlowHarness } from '../../support/flow-harness.js';
import { test } from '../../support/fixtures.js';

// Expected behaviour from outside: OWASP ASVS v4.0.3 2.5.2 / 2.7.x (out-of-band and one-time
// codes: single use, short expiry, rate limited) and NIST SP 800-63B 5.1.3.1 / 5.2.2 (look-up of
// out-of-band secrets, throttling); no account enumeration (ASVS 2.2.1 / 3.x "same response").
describe.skipIf(!requireStores('postgres', 'redis'))('PasswordlessSignIn', () => {
  let passwordless: PasswordlessSignIn;
  const mail = new CapturingIdentityNotifier();
  let ipCounter = 0;
  const freshIp = (): string => `198.51.100.${++ipCounter}`;

  test.beforeAll(async ({ flow: h }) => {
    h.platform.container.registerInstance(IDENTITY_NOTIFIER, mail);
    passwordless = h.platform.resolve(PasswordlessSignIn);
  });

  const ownerQuery = (h: FlowHarness, text: string, values: unknown[]) => ownerQueryOn(h.t.databaseUrl, text, values);

  test('answers the same for known and unknown addresses and mails only the known one', async ({ flow: h }) => {
    const u = await h.user();
    const ip = freshIp();
    const known = await passwordless.requestEmailSignIn(u.email, 'link', { ip });
    const unknown = await passwordless.requestEmailSignIn(`ghost-${randomUUID().slice(0, 8)}@example.test`, 'link', { ip });
    expect(known).toEqual(unknown);
    await passwordless.settled();
    expect(mail.links.filter((m) => m.userId === u.userId)).toHaveLength(1);
    expect(mail.links.filter((m) => m.email.startsWith('ghost-'))).toEqual([]);
  });

  test('signs in once with a magic link; the link is single use and only its hash is stored', async ({ flow: h }) => {
    const u = await h.user();
    await passwordless.requestEmailSignIn(u.email, 'link', { ip: freshIp() });
    await passwordless.settled();
    const { token } = mail.links.filter((m) => m.userId === u.userId).at(-1)!;
    const result = expectSignedIn(await passwordless.signInWithLink(token, { ip: freshIp() }));
    expect(result.user.id).toBe(u.userId);
    await expect(passwordless.signInWithLink(token)).rejects.toMatchObject({ reason: 'consumed' });
    // Stored as SHA-256 only (ARCHITECTURE rule 5): the row is found by the digest of the token.
    expect(
      await ownerQuery(
        h,
        `SELECT count(*)::int AS n FROM verification_tokens WHERE user_id = $1 AND purpose = 'magic_link' AND token_hash = sha256(convert_to($2, 'UTF8'))`,
        [u.userId, token],
      ),
    ).toEqual([{ n: 1 }]);
    const events = await h.auditEvents(result.context);
    expect(events.find((e) => e.eventType === 'auth.login.succeeded')?.details).toMatchObject({ method: 'magic_link' });
  });

  test('a newer link supersedes the older one', async ({ flow: h }) => {
    const u = await h.user();
    await passwordless.requestEmailSignIn(u.email, 'link', { ip: freshIp() });
    await passwordless.settled();
    await passwordless.requestEmailSignIn(u.email, 'link', { ip: freshIp() });
    await passwordless.settled();
    const [first, second] = mail.links.filter((m) => m.userId === u.userId);
    await expect(passwordless.signInWithLink(first!.token)).rejects.toMatchObject({ reason: 'invalid' });
    expectSignedIn(await passwordless.signInWithLink(second!.token));
  });

  test('signs in with an emailed code; wrong codes close it after the limit; unknown addresses fail alike', async ({ flow: h }) => {
    const u = await h.user();
    await passwordless.requestEmailSignIn(u.email, 'code', { ip: freshIp() });
    await passwordless.settled();
    const { code } = mail.codes.filter((m) => m.userId === u.userId).at(-1)!;
    expect(code).toMatch(/^\d{6}$/);
    const wrong = code === '000000' ? '000001' : '000000';
    await expect(passwordless.signInWithCode(u.email, wrong, { ip: freshIp() })).rejects.toMatchObject({ reason: 'invalid' });
    const unknown = await passwordless.signInWithCode(`ghost-${randomUUID().slice(0, 8)}@example.test`, code, { ip: freshIp() }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(TokenError);
    expect((unknown as TokenError).message).toBe('Invalid or expired sign-in code');
    const result = expectSignedIn(await passwordless.signInWithCode(u.email, code, { ip: freshIp() }));
    expect(result.user.id).toBe(u.userId);
    // Used once.
    await expect(passwordless.signInWithCode(u.email, code, { ip: freshIp() })).rejects.toBeInstanceOf(TokenError);
    // Stored as SHA-256(salt ‖ code) only.
    expect(
      await ownerQuery(h, `SELECT count(*)::int AS n FROM email_sign_in_codes WHERE user_id = $1 AND code_hash = sha256(code_salt || convert_to($2, 'UTF8'))`, [
        u.userId,
        code,
      ]),
    ).toEqual([{ n: 1 }]);
  });

  test('closes a code after 5 wrong guesses (NIST SP 800-63B 5.2.2): then even the right one fails', async ({ flow: h }) => {
    const u = await h.user();
    const codes = h.platform.resolve(EmailSignInCodeRepository);
    const { code } = await codes.create(u.userId, 600);
    const wrong = code === '111111' ? '222222' : '111111';
    const outcomes = [];
    for (let i = 0; i < 5; i++) outcomes.push(await codes.check(u.userId, wrong, 5));
    expect(outcomes).toEqual(['invalid', 'invalid', 'invalid', 'invalid', 'closed']);
    expect(await codes.check(u.userId, code, 5)).toBe('invalid');
    // Through the flow, the per-address attempt limit (5 an hour) stops guessing as well.
    await passwordless.requestEmailSignIn(u.email, 'code', { ip: freshIp() });
    await passwordless.settled();
    const fresh = mail.codes.filter((m) => m.userId === u.userId).at(-1)!.code;
    const other = fresh === '333333' ? '444444' : '333333';
    for (let i = 0; i < 5; i++) await expect(passwordless.signInWithCode(u.email, other, { ip: freshIp() })).rejects.toBeInstanceOf(TokenError);
    await expect(passwordless.signInWithCode(u.email, fresh, { ip: freshIp() })).rejects.toBeInstanceOf(RateLimitedError);
  });

  test('throttles requests per address and per IP, for unknown addresses too', async () => {
    const ghost = `ghost-${randomUUID().slice(0, 8)}@example.test`;
    const perAddress = await Promise.allSettled(Array.from({ length: 7 }, () => passwordless.requestEmailSignIn(ghost, 'link', { ip: freshIp() })));
    expect(perAddress.filter((r) => r.status === 'rejected' && r.reason instanceof RateLimitedError)).toHaveLength(2);
    const ip = freshIp();
    const perIp = await Promise.allSettled(
      Array.from({ length: 32 }, (_, i) => passwordless.requestEmailSignIn(`n${i}-${randomUUID().slice(0, 6)}@example.test`, 'code', { ip })),
    );
    expect(perIp.filter((r) => r.status === 'rejected' && r.reason instanceof RateLimitedError)).toHaveLength(2);
    await passwordless.settled();
  });

  test('sends nothing to a suspended account, and a link minted before the suspension does not sign in', async ({ flow: h }) => {
    const u = await h.user();
    await passwordless.requestEmailSignIn(u.email, 'link', { ip: freshIp() });
    await passwordless.settled();
    const { token } = mail.links.filter((m) => m.userId === u.userId).at(-1)!;
    await h.platform.resolve(SessionRevoker).suspendUser(u.userId, 'test: suspended');
    await expect(passwordless.signInWithLink(token)).rejects.toBeInstanceOf(AccountStateError);
    await passwordless.requestEmailSignIn(u.email, 'link', { ip: freshIp() });
    await passwordless.settled();
    expect(mail.links.filter((m) => m.userId === u.userId)).toHaveLength(1);
  });
});
