import 'reflect-metadata';
import { describe, expect } from 'vitest';
import { InvalidMfaCodeError, NotFoundError, PasskeyError, TokenError } from '../../../src/errors.js';
import { expectSignedIn } from '../../../src/flows/auth/expect-signed-in.js';
import { MfaService } from '../../../src/flows/auth/mfa-service.js';
import { PasskeyService } from '../../../src/flows/auth/passkey-service.js';
import { PasskeySignIn } from '../../../src/flows/auth/passkey-sign-in.js';
import { DEFAULT_IDENTITY_FLOW_OPTIONS } from '../../../src/identity-flow-options.js';
import { UserRepository } from '../../../src/postgres/repositories/user-repository.js';
import type { TenantContext } from '../../../src/tenancy/tenant-context.js';
import { requireStores } from '../../support/require-stores.js';
import { SoftwareAuthenticator } from '../../support/software-authenticator.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import { type FlowHarness } from '../../support/flow-harness.js';
import { test } from '../../support/fixtures.js';

// Expected values: the WebAuthn Level 2 recommendation (https://www.w3.org/TR/webauthn-2/) —
// §7.1 registration, §7.2 authentication, §6.1.1 signature counter, §13.4.3 challenges used once.
const { rpId, origins } = DEFAULT_IDENTITY_FLOW_OPTIONS.webauthn;

describe.skipIf(!requireStores('postgres', 'redis'))('passkeys (WebAuthn)', () => {
  let passkeys: PasskeyService;
  let signIn: PasskeySignIn;

  test.beforeAll(async ({ flow: h }) => {
    passkeys = h.platform.resolve(PasskeyService);
    signIn = h.platform.resolve(PasskeySignIn);
  });

  async function signedInUser(h: FlowHarness): Promise<{ ctx: TenantContext; userId: string; email: string }> {
    const u = await h.user();
    const session = expectSignedIn(await h.signIn.login(u.email, PASSWORD, {}));
    return { ctx: session.context, userId: u.userId, email: u.email };
  }

  async function registered(ctx: TenantContext): Promise<SoftwareAuthenticator> {
    const authenticator = new SoftwareAuthenticator({ rpId, origin: origins[0]! });
    const options = await passkeys.beginRegistration(ctx);
    await passkeys.finishRegistration(ctx, authenticator.register(options), 'Test key');
    return authenticator;
  }

  test('registers a discoverable credential, stores its flags and transports, lists it and audits it', async ({ flow: h }) => {
    const { ctx } = await signedInUser(h);
    const authenticator = new SoftwareAuthenticator({ rpId, origin: origins[0]! });
    const options = await passkeys.beginRegistration(ctx);
    // §5.4.6: a passkey is a discoverable credential; the user handle is opaque (no email in it, §14.6.1).
    expect(options.authenticatorSelection?.residentKey).toBe('required');
    expect(Buffer.from(options.user.id, 'base64url')).toHaveLength(16);
    const response = authenticator.register(options);
    const created = await passkeys.finishRegistration(ctx, response, 'Laptop');
    expect(created).toMatchObject({
      credentialId: authenticator.id,
      friendlyName: 'Laptop',
      backupEligible: true,
      backedUp: true,
      transports: ['internal', 'hybrid'],
      lastUsedAt: null,
    });
    expect(await passkeys.list(ctx)).toEqual([created]);
    // The challenge was used: the same response again is refused (§13.4.3).
    await expect(passkeys.finishRegistration(ctx, response)).rejects.toMatchObject({ reason: 'consumed' });
    // Registering again excludes it (§5.4 excludeCredentials).
    expect((await passkeys.beginRegistration(ctx)).excludeCredentials?.map((c) => c.id)).toEqual([authenticator.id]);
    expect((await h.auditEvents(ctx)).map((e) => e.eventType)).toContain('auth.passkey.registered');
  });

  test('refuses a registration from another origin, and burns its challenge', async ({ flow: h }) => {
    const { ctx } = await signedInUser(h);
    const authenticator = new SoftwareAuthenticator({ rpId, origin: origins[0]! });
    const options = await passkeys.beginRegistration(ctx);
    const error = await passkeys.finishRegistration(ctx, authenticator.register(options, { origin: 'https://evil.example' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PasskeyError);
    expect((error as PasskeyError).reason).toBe('verification_failed');
    await expect(passkeys.finishRegistration(ctx, authenticator.register(options))).rejects.toBeInstanceOf(TokenError);
    expect(await passkeys.list(ctx)).toEqual([]);
  });

  test("refuses another user's registration challenge", async ({ flow: h }) => {
    const a = await signedInUser(h);
    const b = await signedInUser(h);
    const options = await passkeys.beginRegistration(a.ctx);
    const response = new SoftwareAuthenticator({ rpId, origin: origins[0]! }).register(options);
    await expect(passkeys.finishRegistration(b.ctx, response)).rejects.toMatchObject({ reason: 'invalid' });
  });

  test('signs in without a username: the user handle names the account, UV makes it multi-factor, the counter is kept', async ({ flow: h }) => {
    const { ctx, userId } = await signedInUser(h);
    const authenticator = await registered(ctx);
    const options = await signIn.beginSignIn({ ip: '203.0.113.50' });
    expect(options.allowCredentials ?? []).toEqual([]);
    const result = expectSignedIn(await signIn.finishSignIn(authenticator.assert(options), { ip: '203.0.113.50' }));
    expect(result.user.id).toBe(userId);
    const session = await h.validator.validate({ userId, sessionId: result.sessionId });
    expect(session.userId).toBe(userId);
    const [stored] = await passkeys.list(ctx);
    expect(stored!.lastUsedAt).toBeInstanceOf(Date);
    // Replaying the same assertion: its challenge is gone.
    const replay = authenticator.assert(options, { counter: authenticator.counter });
    await expect(signIn.finishSignIn(replay)).rejects.toMatchObject({ reason: 'consumed' });
  });

  test('of concurrent uses of one challenge exactly one passes (single use, §13.4.3), and the counter ends at the winner’s value', async ({ flow: h }) => {
    const { ctx } = await signedInUser(h);
    const authenticator = await registered(ctx);
    const options = await signIn.beginSignIn();
    const assertion = authenticator.assert(options);
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => signIn.finishSignIn(assertion)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof TokenError)).toBe(true);
    // Two fresh challenges signed with the SAME counter, raced: the compare-and-set lets one through.
    const [o1, o2] = [await signIn.beginSignIn(), await signIn.beginSignIn()];
    const next = authenticator.counter + 1;
    const raced = await Promise.allSettled([
      signIn.finishSignIn(authenticator.assert(o1, { counter: next })),
      signIn.finishSignIn(authenticator.assert(o2, { counter: next })),
    ]);
    expect(raced.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(raced.filter((r) => r.status === 'rejected').map((r) => ((r as PromiseRejectedResult).reason as PasskeyError).reason)).toEqual([
      'counter_regression',
    ]);
  });

  test('rejects and audits a signature counter that did not grow (§6.1.1: a possibly cloned authenticator)', async ({ flow: h }) => {
    const { ctx } = await signedInUser(h);
    const authenticator = await registered(ctx);
    expectSignedIn(await signIn.finishSignIn(authenticator.assert(await signIn.beginSignIn())));
    expectSignedIn(await signIn.finishSignIn(authenticator.assert(await signIn.beginSignIn())));
    const cloned = authenticator.assert(await signIn.beginSignIn(), { counter: 1 });
    const error = await signIn.finishSignIn(cloned).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PasskeyError);
    expect((error as PasskeyError).reason).toBe('counter_regression');
    const highRisk = await h.auditEvents(ctx, 70);
    expect(highRisk.map((e) => e.eventType)).toContain('auth.passkey.counter_regression');
  });

  test('rejects a tampered signature and an unknown credential', async ({ flow: h }) => {
    const { ctx } = await signedInUser(h);
    const authenticator = await registered(ctx);
    await expect(signIn.finishSignIn(authenticator.assert(await signIn.beginSignIn(), { tamper: true }))).rejects.toMatchObject({
      reason: 'verification_failed',
    });
    const stranger = new SoftwareAuthenticator({ rpId, origin: origins[0]! });
    stranger.userHandle = authenticator.userHandle;
    await expect(signIn.finishSignIn(stranger.assert(await signIn.beginSignIn()))).rejects.toMatchObject({ reason: 'unknown_credential' });
  });

  test('answers an mfa_required sign-in as the second factor, only with that user’s passkey', async ({ flow: h }) => {
    const a = await signedInUser(h);
    const b = await signedInUser(h);
    const keyA = await registered(a.ctx);
    const keyB = await registered(b.ctx);
    const user = (await h.platform.resolve(UserRepository).getById(a.userId))!;
    const mfa = h.platform.resolve(MfaService);
    const challenge = await mfa.startSignInChallenge(user, a.ctx.organizationId, 'sign_in', {});
    const options = await signIn.beginSecondFactor(challenge.challengeToken);
    expect(options.allowCredentials?.map((c) => c.id)).toEqual([keyA.id]);
    // Another user's passkey does not pass, and counts against the challenge.
    await expect(signIn.completeMfaLogin(challenge.challengeToken, keyB.assert(options))).rejects.toBeInstanceOf(PasskeyError);
    const options2 = await signIn.beginSecondFactor(challenge.challengeToken);
    const result = expectSignedIn(await signIn.completeMfaLogin(challenge.challengeToken, keyA.assert(options2)));
    expect(result.user.id).toBe(a.userId);
    // The MFA challenge is single-use.
    await expect(
      signIn.completeMfaLogin(challenge.challengeToken, keyA.assert(await signIn.beginSecondFactor(challenge.challengeToken).catch(() => options2))),
    ).rejects.toBeInstanceOf(TokenError);
  });

  test('is an MfaProof: MfaSignIn.completeMfaLogin accepts { passkey } and counts a refused one like a wrong code', async ({ flow: h }) => {
    const a = await signedInUser(h);
    const b = await signedInUser(h);
    const keyA = await registered(a.ctx);
    const keyB = await registered(b.ctx);
    const user = (await h.platform.resolve(UserRepository).getById(a.userId))!;
    const challenge = await h.platform.resolve(MfaService).startSignInChallenge(user, a.ctx.organizationId, 'sign_in', {});
    const wrong = await h.mfaSignIn
      .completeMfaLogin(challenge.challengeToken, { passkey: keyB.assert(await signIn.beginSecondFactor(challenge.challengeToken)) })
      .catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(InvalidMfaCodeError);
    const result = expectSignedIn(
      await h.mfaSignIn.completeMfaLogin(challenge.challengeToken, {
        passkey: keyA.assert(await signIn.beginSecondFactor(challenge.challengeToken)),
      }),
    );
    expect(result.user.id).toBe(a.userId);
    const events = await h.auditEvents(result.context);
    expect(events.find((e) => e.eventType === 'auth.login.succeeded')?.details).toMatchObject({ mfa: 'passkey' });
  });

  test('removes a passkey for its owner only; a removed passkey no longer signs in', async ({ flow: h }) => {
    const a = await signedInUser(h);
    const b = await signedInUser(h);
    const authenticator = await registered(a.ctx);
    const [passkey] = await passkeys.list(a.ctx);
    await expect(passkeys.remove(b.ctx, passkey!.id)).rejects.toBeInstanceOf(NotFoundError);
    await passkeys.remove(a.ctx, passkey!.id);
    expect(await passkeys.list(a.ctx)).toEqual([]);
    await expect(signIn.finishSignIn(authenticator.assert(await signIn.beginSignIn()))).rejects.toMatchObject({ reason: 'unknown_credential' });
    expect((await h.auditEvents(a.ctx)).map((e) => e.eventType)).toContain('auth.passkey.removed');
  });
});
