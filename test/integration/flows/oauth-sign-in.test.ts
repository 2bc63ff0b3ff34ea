import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { describe, expect, vi } from 'vitest';
import { z } from 'zod';
import { AccountStateError, ConflictError, InvalidMfaCodeError } from '../../../src/errors.js';
import { expectSignedIn } from '../../../src/flows/auth/expect-signed-in.js';
import { MfaEnrollment } from '../../../src/flows/auth/mfa-enrollment.js';
import { OAuthSignIn } from '../../../src/flows/auth/oauth-sign-in.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { IdentityRepository } from '../../../src/postgres/repositories/identity-repository.js';
import { OrganizationRepository } from '../../../src/postgres/repositories/organization-repository.js';
import { SecuritySettingsRepository } from '../../../src/postgres/repositories/security-settings-repository.js';
import { TOTP_PERIOD_SECONDS, Totp } from '../../../src/security/totp.js';
import { createTenantContext } from '../../../src/tenancy/tenant-context.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import { type FlowHarness } from '../../support/flow-harness.js';
import { requireStores } from '../../support/require-stores.js';
import { test } from '../../support/fixtures.js';

describe.skipIf(!requireStores('postgres', 'redis'))('OAuthSignIn', () => {
  let oauth: OAuthSignIn;
  let identities: IdentityRepository;

  test.beforeAll(async ({ flow: h }) => {
    oauth = h.platform.resolve(OAuthSignIn);
    identities = h.platform.resolve(IdentityRepository);
  });

  const sub = () => `sub-${randomUUID()}`;

  test('creates an account with a personal organization, then signs the same identity in', async ({ flow: h }) => {
    const email = `new-${randomUUID().slice(0, 8)}@example.test`;
    const providerUserId = sub();
    const created = expectSignedIn(
      await oauth.signIn({
        provider: 'google',
        providerUserId,
        email,
        emailVerified: true,
        displayName: 'Ada',
        accessToken: 'ya29.secret-access',
        refreshToken: '1//secret-refresh',
      }),
    );
    expect(created).toMatchObject({ outcome: 'created', user: { email, status: 'active' }, organization: { role: 'owner' } });
    expect((await h.validator.validate({ userId: created.user.id, sessionId: created.sessionId })).context.role).toBe('owner');
    // Provider tokens are stored encrypted, readable through the repository.
    const raw = await h.platform.resolve(PostgresConnection).ownerPool.oneFirst(sql.type(z.object({ t: z.string() }))`
      SELECT row_to_json(i)::text AS t FROM identities i WHERE provider_user_id = ${providerUserId}`);
    expect(raw).not.toContain('secret-access');
    expect(await identities.getTokens(created.user.id, 'google')).toMatchObject({ accessToken: 'ya29.secret-access', refreshToken: '1//secret-refresh' });

    const again = expectSignedIn(await oauth.signIn({ provider: 'google', providerUserId, email, emailVerified: true, accessToken: 'ya29.rotated' }));
    expect(again).toMatchObject({ outcome: 'signed_in', user: { id: created.user.id } });
    expect(again.sessionId).not.toBe(created.sessionId);
    expect((await identities.getTokens(created.user.id, 'google')).accessToken).toBe('ya29.rotated');
  });

  test('links to an existing verified account only when the provider asserts the email is verified', async ({ flow: h }) => {
    const u = await h.user({ verified: true });
    const refused = await oauth.signIn({ provider: 'discord', providerUserId: sub(), email: u.email, emailVerified: false }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConflictError);
    expect(await identities.listForUser(u.userId)).toHaveLength(0);

    const linked = expectSignedIn(await oauth.signIn({ provider: 'microsoft', providerUserId: sub(), email: u.email.toUpperCase(), emailVerified: true }));
    expect(linked).toMatchObject({ outcome: 'linked', user: { id: u.userId }, organization: { id: u.organizationId } });
    expect((await identities.listForUser(u.userId)).map((i) => i.provider)).toEqual(['microsoft']);
    const events = await h.auditEvents(linked.context);
    expect(events.find((e) => e.eventType === 'auth.oauth.linked')?.riskScore).toBeGreaterThan(0);
  });

  test('refuses to link an account whose own email is unverified (pre-registration takeover)', async ({ flow: h }) => {
    const u = await h.user({ verified: false });
    await expect(oauth.signIn({ provider: 'apple', providerUserId: sub(), email: u.email, emailVerified: true })).rejects.toBeInstanceOf(ConflictError);
    expect(await identities.listForUser(u.userId)).toHaveLength(0);
  });

  test('refuses suspended accounts, unsupported providers and a missing email for new accounts', async ({ flow: h }) => {
    const u = await h.user();
    const providerUserId = sub();
    await oauth.signIn({ provider: 'facebook', providerUserId, email: u.email, emailVerified: true });
    await h.revoker.suspendUser(u.userId, 'test');
    await expect(oauth.signIn({ provider: 'facebook', providerUserId, email: u.email, emailVerified: true })).rejects.toBeInstanceOf(AccountStateError);
    await expect(oauth.signIn({ provider: 'github' as 'google', providerUserId: sub(), email: 'x@example.test' })).rejects.toMatchObject({
      fields: ['provider'],
    });
    await expect(oauth.signIn({ provider: 'apple', providerUserId: sub() })).rejects.toMatchObject({ fields: ['email'] });
  });

  // Repeated: the race has several interleavings (the second caller may find the new account before or after its
  // identity is linked); in every one the account ends whole — with its identity and its organization.
  test('settles two concurrent first sign-ins of one identity on one account, which ends with its organization', { repeats: 10 }, async () => {
    const email = `race-${randomUUID().slice(0, 8)}@example.test`;
    const providerUserId = sub();
    const profile = { provider: 'google', providerUserId, email, emailVerified: true } as const;
    const results = await Promise.allSettled([1, 2].map(() => oauth.signIn(profile)));
    const ok = results.filter((r) => r.status === 'fulfilled').map((r) => expectSignedIn(r.value));
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(new Set(ok.map((r) => r.user.id)).size).toBe(1);
    // Nothing half-written: the next sign-in of the identity finds the account and its organization.
    const again = await oauth.signIn(profile);
    expect({ status: again.status, outcome: again.outcome }).toEqual({ status: 'signed_in', outcome: 'signed_in' });
    expect(expectSignedIn(again).user.id).toBe(ok[0]!.user.id);
  });
  test('a first sign-in racing an uncommitted creation of the same identity waits for it and signs in to that whole account', async ({ flow: h }) => {
    // The interleaving the repeated race above can only hit by chance, forced: the creating caller's transaction is
    // held open after its user insert while a second caller signs in with the same profile. The new account is
    // invisible to the second caller until it commits whole, so its own creation waits on the email, then finds it
    // taken and signs in to the first caller's account — identity and organization included.
    const profile = { provider: 'google', providerUserId: sub(), email: `race-${randomUUID().slice(0, 8)}@example.test`, emailVerified: true } as const;
    const linkWithin = identities.linkWithin.bind(identities);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const spy = vi.spyOn(identities, 'linkWithin').mockImplementation(async (...args) => {
      calls += 1;
      if (calls === 1) await gate;
      return linkWithin(...args);
    });
    const waitingOnLock = () =>
      h.platform.resolve(PostgresConnection).ownerPool.oneFirst(sql.type(z.object({ n: z.number() }))`
        SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO users%'`);
    try {
      const creating = oauth.signIn(profile);
      await vi.waitFor(() => expect(calls).toBe(1), { timeout: 10_000 });
      const second = oauth.signIn(profile);
      await vi.waitFor(async () => expect(await waitingOnLock()).toBe(1), { timeout: 10_000, interval: 50 });
      release();
      const [created, joined] = [expectSignedIn(await creating), expectSignedIn(await second)];
      expect([created.outcome, joined.outcome]).toEqual(['created', 'signed_in']);
      expect(joined.user.id).toBe(created.user.id);
      expect(joined.organization.id).toBe(created.organization.id);
      // The second caller's attempt left nothing: one identity, linked once.
      expect(calls).toBe(1);
      expect((await identities.listForUser(created.user.id)).map((i) => i.providerUserId)).toEqual([profile.providerUserId]);
    } finally {
      release();
      spy.mockRestore();
    }
  });

  // Fault: the organization insert fails inside the creation (its slug taken — forced, since the personal
  // organization's slug carries a random suffix). Nothing of the account may survive: no user, no identity.
  test('a first sign-in whose organization cannot be created leaves no user and no identity, and the next one creates the account', async ({ flow: h }) => {
    const taken = await h.user();
    const owner = h.platform.resolve(PostgresConnection).ownerPool;
    const takenSlug = await owner.oneFirst(
      sql.type(z.object({ slug: z.string() }))`SELECT slug::text AS slug FROM organizations WHERE id = ${taken.organizationId}`,
    );
    const profile = { provider: 'discord', providerUserId: sub(), email: `fault-${randomUUID().slice(0, 8)}@example.test`, emailVerified: true } as const;
    const organizations = h.platform.resolve(OrganizationRepository);
    const createWithin = organizations.createWithin.bind(organizations);
    const spy = vi.spyOn(organizations, 'createWithin').mockImplementation((tx, input) => createWithin(tx, { ...input, slug: takenSlug }));
    let error: unknown;
    try {
      error = await oauth.signIn(profile).catch((e: unknown) => e);
    } finally {
      spy.mockRestore();
    }
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).constraint).toBe('organizations_slug_key');
    const left = await owner.one(sql.type(z.object({ users: z.number(), identities: z.number() }))`
      SELECT (SELECT count(*) FROM users WHERE email = ${profile.email})::int AS users,
             (SELECT count(*) FROM identities WHERE provider_user_id = ${profile.providerUserId})::int AS identities`);
    expect(left).toEqual({ users: 0, identities: 0 });
    const created = expectSignedIn(await oauth.signIn(profile));
    expect(created).toMatchObject({ outcome: 'created', user: { email: profile.email, status: 'active' }, organization: { role: 'owner' } });
  });
  describe('second factor', () => {
    const totp = new Totp();
    const client = { ip: '203.0.113.9', userAgent: 'vitest' };
    const sessionCount = (h: FlowHarness, userId: string) =>
      h.platform
        .resolve(PostgresConnection)
        .ownerPool.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM sessions WHERE user_id = ${userId}`);

    /** A verified user with TOTP enabled (the current step is spent by the confirmation). */
    async function enrolledUser(h: FlowHarness) {
      const u = await h.user();
      const enrollment = h.platform.resolve(MfaEnrollment);
      const session = expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
      const { secret } = await enrollment.beginTotpEnrollment(session.context);
      await enrollment.confirmTotpEnrollment(session.context, await totp.generate(secret));
      const nextCode = () => totp.generate(secret, new Date(Date.now() + TOTP_PERIOD_SECONDS * 1000));
      return { ...u, secret, nextCode };
    }

    test('an MFA-enabled user signing in with Google gets mfa_required and no session until the code is given', async ({ flow: h }) => {
      const u = await enrolledUser(h);
      const providerUserId = sub();
      const before = await sessionCount(h, u.userId);
      const linked = await oauth.signIn({ provider: 'google', providerUserId, email: u.email, emailVerified: true }, client);
      expect(linked).toMatchObject({ status: 'mfa_required', outcome: 'linked', methods: ['totp', 'recovery_code'] });
      expect(linked).not.toHaveProperty('sessionId');
      expect(linked).not.toHaveProperty('refreshToken');
      if (linked.status !== 'mfa_required') throw new Error('unreachable');

      const result = await oauth.signIn({ provider: 'google', providerUserId, email: u.email, emailVerified: true }, client);
      expect(result).toMatchObject({ status: 'mfa_required', outcome: 'signed_in' });
      if (result.status !== 'mfa_required') throw new Error('unreachable');
      expect(await sessionCount(h, u.userId)).toBe(before);
      // The newer challenge superseded the first; a wrong code gives nothing.
      await expect(h.mfaSignIn.completeMfaLogin(linked.challengeToken, { code: await u.nextCode() }, client)).rejects.toMatchObject({ reason: 'invalid' });
      const wrong = String((Number(await u.nextCode()) + 1) % 1_000_000).padStart(6, '0');
      await expect(h.mfaSignIn.completeMfaLogin(result.challengeToken, { code: wrong }, client)).rejects.toBeInstanceOf(InvalidMfaCodeError);
      expect(await sessionCount(h, u.userId)).toBe(before);

      const session = expectSignedIn(await h.mfaSignIn.completeMfaLogin(result.challengeToken, { code: await u.nextCode() }, client));
      expect(session).toMatchObject({ status: 'signed_in', user: { id: u.userId }, organization: { id: u.organizationId } });
      await expect(h.validator.validate({ userId: u.userId, sessionId: session.sessionId })).resolves.toMatchObject({ sessionId: session.sessionId });
      expect(await sessionCount(h, u.userId)).toBe(before + 1);
      const challenged = (await h.auditEvents(session.context)).filter((e) => e.eventType === 'auth.login.mfa_challenged');
      expect(challenged.some((e) => e.details['via'] === 'oauth' && e.details['provider'] === 'google')).toBe(true);
    });

    test('an organization requiring MFA makes OAuth sign-in enrol first', async ({ flow: h }) => {
      const u = await h.user();
      const owner = createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner' });
      await h.platform.resolve(SecuritySettingsRepository).update(owner, { mfaRequired: true });
      const result = await oauth.signIn({ provider: 'microsoft', providerUserId: sub(), email: u.email, emailVerified: true }, client);
      expect(result).toMatchObject({ status: 'mfa_enrollment_required', outcome: 'linked' });
      if (result.status !== 'mfa_enrollment_required') throw new Error('unreachable');
      expect(await sessionCount(h, u.userId)).toBe(0);
      const { secret } = await h.platform.resolve(MfaEnrollment).beginTotpEnrollment({ challengeToken: result.challengeToken });
      const enrolled = await h.mfaSignIn.completeMfaEnrollment(result.challengeToken, await totp.generate(secret), client);
      expect(enrolled).toMatchObject({ status: 'signed_in', user: { id: u.userId } });
      expect(enrolled.recoveryCodes).toHaveLength(10);
    });

    test('expectSignedIn refuses an OAuth result that needs a second factor', async ({ flow: h }) => {
      const u = await enrolledUser(h);
      const result = await oauth.signIn({ provider: 'apple', providerUserId: sub(), email: u.email, emailVerified: true }, client);
      expect(() => expectSignedIn(result)).toThrow(expect.objectContaining({ code: 'MFA_REQUIRED' }));
    });
  });
});
