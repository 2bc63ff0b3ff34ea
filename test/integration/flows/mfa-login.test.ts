import 'reflect-metadata';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { InvalidMfaCodeError, RateLimitedError, AccountStateError, TokenError, ValidationError } from '../../../src/errors.js';
import type { MfaChallengeResult } from '../../../src/flows/auth/mfa-service.js';
import type { LoginResult } from '../../../src/flows/auth/password-sign-in.js';
import { expectSignedIn } from '../../../src/flows/auth/expect-signed-in.js';
import { MfaService } from '../../../src/flows/auth/mfa-service.js';
import { MfaEnrollment } from '../../../src/flows/auth/mfa-enrollment.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { SecuritySettingsRepository } from '../../../src/postgres/repositories/security-settings-repository.js';
import { TOTP_PERIOD_SECONDS, Totp } from '../../../src/security/totp.js';
import { createTenantContext } from '../../../src/tenancy/tenant-context.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import { type FlowHarness } from '../../support/flow-harness.js';
import { requireStores } from '../../support/require-stores.js';
import { test } from '../../support/fixtures.js';

const client = { ip: '203.0.113.7', userAgent: 'vitest', deviceId: 'device-1' };
const STEP_MS = TOTP_PERIOD_SECONDS * 1000;

function challengeOf(result: LoginResult): MfaChallengeResult {
  if (result.status !== 'mfa_required') throw new Error(`expected mfa_required, got ${result.status}`);
  return result;
}

describe.skipIf(!requireStores('postgres', 'redis'))('MFA at sign-in', () => {
  let pg: PostgresConnection;
  let mfa: MfaService;
  let enrollment: MfaEnrollment;
  const totp = new Totp();

  test.beforeAll(async ({ flow: h }) => {
    pg = h.platform.resolve(PostgresConnection);
    mfa = h.platform.resolve(MfaService);
    enrollment = h.platform.resolve(MfaEnrollment);
  });

  /** A user with TOTP enabled through the signed-in enrolment; the current step is spent by the confirmation. */
  async function enrolledUser(h: FlowHarness) {
    const u = await h.user();
    const session = expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
    const { secret, otpauthUri } = await enrollment.beginTotpEnrollment(session.context);
    expect(otpauthUri).toMatch(/^otpauth:\/\/totp\//);
    const enabled = await enrollment.confirmTotpEnrollment(session.context, await totp.generate(secret));
    expect(enabled.recoveryCodes).toHaveLength(10);
    // The next step's code: inside the ±1 window and newer than the step the confirmation used.
    const nextCode = () => totp.generate(secret, new Date(Date.now() + STEP_MS));
    return { ...u, secret, recoveryCodes: enabled.recoveryCodes, nextCode, firstSessionId: session.sessionId };
  }

  const failedCount = (userId: string) =>
    pg.ownerPool.oneFirst(sql.type(z.object({ failed_login_count: z.number() }))`SELECT failed_login_count FROM users WHERE id = ${userId}`);
  const sessionCount = (userId: string) =>
    pg.ownerPool.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM sessions WHERE user_id = ${userId}`);

  test('answers a challenge instead of a session, and a valid code completes the sign-in', async ({ flow: h }) => {
    const u = await enrolledUser(h);
    const before = await sessionCount(u.userId);
    const result = await h.signIn.login(u.email, PASSWORD, client);
    expect(result).toMatchObject({ status: 'mfa_required', methods: ['totp', 'recovery_code'] });
    const challenge = challengeOf(result);
    expect(challenge.challengeToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(challenge.expiresAt.getTime() - Date.now()).toBeGreaterThan(4 * 60_000);
    expect(challenge.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(5 * 60_000 + 1000);
    expect(result).not.toHaveProperty('sessionId');
    expect(await sessionCount(u.userId)).toBe(before);
    // Only the hash is stored.
    const dump = await pg.ownerPool.oneFirst(sql.type(z.object({ t: z.string() }))`
      SELECT coalesce(string_agg(row_to_json(c)::text, ''), '') AS t FROM mfa_challenges c WHERE user_id = ${u.userId}`);
    expect(dump).not.toContain(challenge.challengeToken);

    const session = expectSignedIn(await h.mfaSignIn.completeMfaLogin(challenge.challengeToken, { code: await u.nextCode() }, client));
    expect(session).toMatchObject({ status: 'signed_in', user: { id: u.userId }, organization: { id: u.organizationId } });
    await expect(h.validator.validate({ userId: u.userId, sessionId: session.sessionId })).resolves.toMatchObject({ sessionId: session.sessionId });
    const events = await h.auditEvents(session.context);
    expect(events.find((e) => e.eventType === 'auth.login.succeeded' && e.details['sessionId'] === session.sessionId)).toMatchObject({
      details: { mfa: 'totp' },
    });
    expect(events.some((e) => e.eventType === 'auth.login.mfa_challenged')).toBe(true);
    // The challenge is single use.
    await expect(h.mfaSignIn.completeMfaLogin(challenge.challengeToken, { code: await u.nextCode() }, client)).rejects.toMatchObject({ reason: 'consumed' });
  });

  test('refuses a replayed TOTP code, counting it as a failed sign-in', async ({ flow: h }) => {
    const u = await enrolledUser(h);
    const code = await u.nextCode();
    await h.mfaSignIn.completeMfaLogin(challengeOf(await h.signIn.login(u.email, PASSWORD, client)).challengeToken, { code }, client);
    const second = challengeOf(await h.signIn.login(u.email, PASSWORD, client));
    const error = await h.mfaSignIn.completeMfaLogin(second.challengeToken, { code }, client).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidMfaCodeError);
    expect(error).toMatchObject({ reason: 'replayed' });
    expect(await failedCount(u.userId)).toBe(1);
  });

  test('accepts one concurrent completion of the same code', async ({ flow: h }) => {
    const u = await enrolledUser(h);
    const code = await u.nextCode();
    const a = challengeOf(await h.signIn.login(u.email, PASSWORD, client));
    // A second login supersedes the first challenge: only the latest works.
    const b = challengeOf(await h.signIn.login(u.email, PASSWORD, client));
    await expect(h.mfaSignIn.completeMfaLogin(a.challengeToken, { code }, client)).rejects.toBeInstanceOf(TokenError);
    const results = await Promise.allSettled([1, 2, 3].map(() => h.mfaSignIn.completeMfaLogin(b.challengeToken, { code }, client)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  test('uses each recovery code once', async ({ flow: h }) => {
    const u = await enrolledUser(h);
    const [first, second] = u.recoveryCodes;
    const signedIn = await h.mfaSignIn.completeMfaLogin(
      challengeOf(await h.signIn.login(u.email, PASSWORD, client)).challengeToken,
      { recoveryCode: first! },
      client,
    );
    expect(signedIn.status).toBe('signed_in');
    const again = challengeOf(await h.signIn.login(u.email, PASSWORD, client));
    // Typed differently (upper case, no hyphens): still the same, already used code.
    const reused = first!.toUpperCase().replace(/-/g, '');
    await expect(h.mfaSignIn.completeMfaLogin(again.challengeToken, { recoveryCode: reused }, client)).rejects.toMatchObject({ reason: 'invalid' });
    // The challenge survives one wrong code; another unused recovery code completes it.
    await expect(h.mfaSignIn.completeMfaLogin(again.challengeToken, { recoveryCode: second! }, client)).resolves.toMatchObject({ status: 'signed_in' });
    expect(await mfa.isEnabled(u.userId)).toBe(true);
  });

  test('counts wrong codes like wrong passwords: lockout at the threshold, challenge closed', async ({ flow: h }) => {
    const u = await enrolledUser(h);
    const challenge = challengeOf(await h.signIn.login(u.email, PASSWORD, client));
    const wrong = String((Number(await u.nextCode()) + 1) % 1_000_000).padStart(6, '0');
    const first = await h.mfaSignIn.completeMfaLogin(challenge.challengeToken, { code: wrong }, client).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(InvalidMfaCodeError);
    expect(await failedCount(u.userId)).toBe(1);
    const ctx = createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner' });
    const failures = (await h.auditEvents(ctx)).filter((e) => e.eventType === 'auth.login.mfa_failed');
    expect(failures[0]).toMatchObject({ actorUserId: u.userId, details: { reason: 'wrong_mfa_code', failures: 1 } });

    // Four more wrong codes reach the threshold (5): the account locks and the challenge closes.
    for (let i = 0; i < 4; i++) await h.mfaSignIn.completeMfaLogin(challenge.challengeToken, { code: wrong }, client).catch(() => undefined);
    expect(await failedCount(u.userId)).toBe(5);
    await expect(h.mfaSignIn.completeMfaLogin(challenge.challengeToken, { code: await u.nextCode() }, client)).rejects.toBeInstanceOf(TokenError);
    const relogin = await h.signIn.login(u.email, PASSWORD, client).catch((e: unknown) => e);
    expect(relogin instanceof RateLimitedError || relogin instanceof AccountStateError).toBe(true);
  });

  test('does not reset the lockout counter at the password step', async ({ flow: h }) => {
    const u = await enrolledUser(h);
    const wrong = String((Number(await u.nextCode()) + 7) % 1_000_000).padStart(6, '0');
    const c1 = challengeOf(await h.signIn.login(u.email, PASSWORD, client));
    await h.mfaSignIn.completeMfaLogin(c1.challengeToken, { code: wrong }, client).catch(() => undefined);
    challengeOf(await h.signIn.login(u.email, PASSWORD, client));
    // A correct password alone does not wipe the failed code: only a completed sign-in does.
    expect(await failedCount(u.userId)).toBe(1);
  });

  test('org requires MFA, user has none: enrolment challenge, then signed in with recovery codes', async ({ flow: h }) => {
    const u = await h.user();
    const owner = createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner' });
    await h.platform.resolve(SecuritySettingsRepository).update(owner, { mfaRequired: true });
    const result = await h.signIn.login(u.email, PASSWORD, client);
    expect(result).toMatchObject({ status: 'mfa_enrollment_required' });
    if (result.status !== 'mfa_enrollment_required') throw new Error('unreachable');
    expect(await sessionCount(u.userId)).toBe(0);
    // An enrolment challenge is not a sign-in challenge.
    await expect(h.mfaSignIn.completeMfaLogin(result.challengeToken, { code: '123456' }, client)).rejects.toMatchObject({ reason: 'invalid' });

    const { secret } = await enrollment.beginTotpEnrollment({ challengeToken: result.challengeToken });
    const enrolled = expectSignedIn(await h.mfaSignIn.completeMfaEnrollment(result.challengeToken, await totp.generate(secret), client));
    expect(enrolled).toMatchObject({ status: 'signed_in', user: { id: u.userId } });
    expect(enrolled.recoveryCodes).toHaveLength(10);
    await expect(h.validator.validate({ userId: u.userId, sessionId: enrolled.sessionId })).resolves.toBeDefined();
    // From now on the password alone is not enough.
    expect((await h.signIn.login(u.email, PASSWORD, client)).status).toBe('mfa_required');
  });

  test('validates the inputs naming the field', async ({ flow: h }) => {
    const u = await enrolledUser(h);
    const challenge = challengeOf(await h.signIn.login(u.email, PASSWORD, client));
    const error = await h.mfaSignIn.completeMfaLogin(challenge.challengeToken, { code: 'abc' }, client).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).fields[0]).toMatch(/^proof/);
    await expect(h.mfaSignIn.completeMfaLogin('', { code: '123456' }, client)).rejects.toMatchObject({ fields: ['challengeToken'] });
    await expect(h.mfaSignIn.completeMfaLogin('x'.repeat(43), { code: '123456' }, client)).rejects.toMatchObject({ reason: 'invalid' });
  });
});
