import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { describe, expect, vi } from 'vitest';
import { z } from 'zod';
import { ConflictError, PlatformError, RateLimitedError, ValidationError } from '../../../src/errors.js';
import { EmailVerification } from '../../../src/flows/auth/email-verification.js';
import { SignUpService } from '../../../src/flows/auth/sign-up-service.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { AuditRepository } from '../../../src/postgres/repositories/audit-repository.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import { type FlowHarness } from '../../support/flow-harness.js';
import { requireStores } from '../../support/require-stores.js';
import { test } from '../../support/fixtures.js';

/**
 * Sign-up must not enumerate accounts: OWASP ASVS v4 2.2.1 / OWASP Authentication Cheat Sheet,
 * "Account creation … should return a generic message … whether or not the account exists";
 * the owner of the existing account is told out of band instead.
 */
describe.skipIf(!requireStores('postgres', 'redis'))('SignUpService: no enumeration', () => {
  let signUp: SignUpService;
  const base = { password: PASSWORD, organizationName: 'Enumeration Test', ageConfirmed: true };

  test.beforeAll(async ({ flow: h }) => {
    signUp = h.platform.resolve(SignUpService);
  });

  async function counts(h: FlowHarness, email: string): Promise<{ users: number; organizations: number }> {
    return h.platform.resolve(PostgresConnection).ownerPool.one(sql.type(z.object({ users: z.number(), organizations: z.number() }))`
      SELECT (SELECT count(*) FROM users WHERE lower(email::text) = lower(${email}))::int AS users,
             (SELECT count(*) FROM organizations)::int AS organizations`);
  }

  test('answers a new and an existing address (any letter case) alike; the existing owner is told, the new one gets a verification link', async ({
    flow: h,
  }) => {
    const existing = await h.user();
    const fresh = `new-${randomUUID().slice(0, 8)}@example.test`;
    const before = await counts(h, existing.email);

    const forNew = await signUp.signUp({ ...base, email: fresh });
    const answers = [];
    for (const email of [existing.email, existing.email.toUpperCase(), existing.email.replace(/^./, (c) => c.toUpperCase())])
      answers.push(await signUp.signUp({ ...base, email }));
    expect(forNew).toEqual({ accepted: true });
    for (const a of answers) expect(a).toEqual(forNew);

    // Nothing created for the existing address; one owner and one organization for the new one.
    expect(await counts(h, existing.email)).toEqual({ users: 1, organizations: before.organizations + 1 });
    expect(h.notifier.notices.filter((n) => n.userId === existing.userId)).toEqual(
      Array.from({ length: 3 }, () => ({ kind: 'sign_up_with_existing_email', userId: existing.userId, email: existing.email })),
    );
    expect(h.notifier.sent.filter((m) => m.email === fresh).map((m) => m.kind)).toEqual(['email_verification']);
  });

  test('refuses a weak password alike for a new and an existing address (ValidationError, same fields)', async ({ flow: h }) => {
    const existing = await h.user();
    const errors: unknown[] = [];
    for (const email of [existing.email, `weak-${randomUUID().slice(0, 8)}@example.test`])
      errors.push(await signUp.signUp({ ...base, email, password: 'password123' }).catch((e: unknown) => e));
    for (const e of errors) expect(e).toBeInstanceOf(ValidationError);
    const [a, b] = errors as ValidationError[];
    expect(a?.issues.map((i) => i.code)).toEqual(b?.issues.map((i) => i.code));
  });

  test('createAccount is the trusted door: it says the address is taken (ConflictError users_email_key)', async ({ flow: h }) => {
    const existing = await h.user();
    const error = await signUp.createAccount({ ...base, email: existing.email.toUpperCase() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).constraint).toBe('users_email_key');
    // Self-service cannot ask for the trusted options.
    const refused = (await signUp
      .signUp({ ...base, email: 'x@example.test', emailVerified: true } as Parameters<SignUpService['signUp']>[0])
      .catch((e: unknown) => e)) as PlatformError;
    expect(refused).toBeInstanceOf(ValidationError);
  });

  // Faults inside the account's one transaction: whatever fails, nothing of the account survives — no user holding
  // the email, no consent, no organization, no `auth.signup` event — and the same email signs up afterwards.
  async function leftOf(h: FlowHarness, email: string) {
    return h.platform.resolve(PostgresConnection).ownerPool.one(sql.type(z.object({ users: z.number(), consents: z.number(), signups: z.number() }))`
      SELECT (SELECT count(*) FROM users WHERE email = ${email})::int AS users,
             (SELECT count(*) FROM consent_events c JOIN users u ON u.id = c.user_id WHERE u.email = ${email})::int AS consents,
             (SELECT count(*) FROM audit_log WHERE event_type = 'auth.signup')::int AS signups`);
  }

  test('a taken organization slug leaves no user, no consent and no audit event; the email stays free', async ({ flow: h }) => {
    const taken = await h.user();
    const slug = await h.platform
      .resolve(PostgresConnection)
      .ownerPool.oneFirst(sql.type(z.object({ slug: z.string() }))`SELECT slug::text AS slug FROM organizations WHERE id = ${taken.organizationId}`);
    const email = `slug-${randomUUID().slice(0, 8)}@example.test`;
    const before = await leftOf(h, email);
    const error = await signUp.createAccount({ ...base, email, organizationSlug: slug, termsVersion: 't1', emailVerified: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).constraint).toBe('organizations_slug_key');
    expect(await leftOf(h, email)).toEqual({ users: 0, consents: 0, signups: before.signups });

    const created = await signUp.createAccount({ ...base, email, termsVersion: 't1', emailVerified: true });
    expect(created.user).toMatchObject({ email, status: 'active' });
    expect(created.user.emailVerifiedAt).not.toBeNull();
    expect(await leftOf(h, email)).toEqual({ users: 1, consents: 2, signups: before.signups + 1 });
  });

  test('the signup audit event failing to insert rolls the whole account back', async ({ flow: h }) => {
    const audit = h.platform.resolve(AuditRepository);
    const spy = vi.spyOn(audit, 'appendWithin').mockRejectedValueOnce(new PlatformError('POSTGRES_ERROR', 'audit insert failed (injected)'));
    const email = `audit-${randomUUID().slice(0, 8)}@example.test`;
    const organizations = (await counts(h, email)).organizations;
    try {
      await expect(signUp.createAccount({ ...base, email })).rejects.toThrow('audit insert failed (injected)');
    } finally {
      spy.mockRestore();
    }
    expect(await counts(h, email)).toEqual({ users: 0, organizations });
    expect((await leftOf(h, email)).consents).toBe(0);
  });

  /**
   * A link lost after the account committed (a crash before `requestEmailVerification`, a notifier down) is one
   * repeated sign-up away. Peer: Supabase GoTrue, `internal/api/signup.go` `Signup` — for an existing user that is
   * not confirmed it does "not update the user because we can't be sure of their claimed identity" and calls
   * `sendConfirmation` again; a confirmed one gets no mail and the same sanitized answer.
   */
  const accountRow = (h: FlowHarness, userId: string) =>
    h.platform.resolve(PostgresConnection).ownerPool.one(sql.type(
      z.object({ x: z.string(), password_hash: z.string(), display_name: z.string().nullable(), consents: z.number() }),
    )`
      SELECT u.xmin::text AS x, u.password_hash, u.display_name, (SELECT count(*) FROM consent_events c WHERE c.user_id = u.id)::int AS consents
      FROM users u WHERE u.id = ${userId}`);

  test('a never-verified account signed up again gets a fresh verification link, and nothing of it changes; the same answer', async ({ flow: h }) => {
    const email = `lost-${randomUUID().slice(0, 8)}@example.test`;
    // What a crash between the account's commit and its link leaves: a pending account, no link sent.
    const { user } = await signUp.createAccount({ ...base, email, termsVersion: 't1' });
    const before = await accountRow(h, user.id);
    const organizations = (await counts(h, email)).organizations;

    const again = await signUp.signUp({
      ...base,
      email: email.toUpperCase(),
      password: 'Other-Granite-Pass-58',
      displayName: 'Intruder',
      organizationName: 'Other',
    });
    const fresh = await signUp.signUp({ ...base, email: `fresh-${randomUUID().slice(0, 8)}@example.test` });
    expect(again).toEqual({ accepted: true });
    expect(again).toEqual(fresh);

    expect(h.notifier.sent.filter((m) => m.userId === user.id).map((m) => m.kind)).toEqual(['email_verification']);
    expect(h.notifier.notices.filter((n) => n.userId === user.id)).toEqual([]);
    // The row was not written at all (same xmin): password, name, consents as they were; no organization for the retry.
    expect(await accountRow(h, user.id)).toEqual(before);
    expect((await counts(h, email)).organizations).toBe(organizations + 1);

    const token = h.notifier.sent.filter((m) => m.userId === user.id).at(-1)!.token;
    await expect(h.platform.resolve(EmailVerification).verifyEmail(token)).resolves.toMatchObject({ id: user.id, status: 'active' });
    expect((await h.signIn.login(email, PASSWORD, {})).status).toBe('signed_in');

    // Verified now: a further sign-up is told to the owner, and sends no link.
    expect(await signUp.signUp({ ...base, email })).toEqual({ accepted: true });
    expect(h.notifier.sent.filter((m) => m.userId === user.id)).toHaveLength(1);
    expect(h.notifier.notices.filter((n) => n.userId === user.id).map((n) => n.kind)).toEqual(['sign_up_with_existing_email']);
  });

  test('a verification link that fails to go out does not change the answer; signing up again sends one', async ({ flow: h }) => {
    const email = `down-${randomUUID().slice(0, 8)}@example.test`;
    const spy = vi.spyOn(h.notifier, 'emailVerification').mockRejectedValueOnce(new Error('mail provider down (injected)'));
    try {
      expect(await signUp.signUp({ ...base, email })).toEqual({ accepted: true });
    } finally {
      spy.mockRestore();
    }
    expect(h.notifier.sent.filter((m) => m.email === email)).toEqual([]);
    expect(await signUp.signUp({ ...base, email })).toEqual({ accepted: true });
    const token = h.notifier.sent.filter((m) => m.email === email && m.kind === 'email_verification').at(-1)!.token;
    await expect(h.platform.resolve(EmailVerification).verifyEmail(token)).resolves.toMatchObject({ email, status: 'active' });
  });

  // OWASP ASVS v4.0.3 2.2.1 (anti-automation on authentication endpoints, account creation among them); Supabase
  // Auth limits sign-ups per client IP the same way (docs "Rate limits": sign-up and sign-in requests per IP).
  // The limit is the default `emailRequestsPerHourPerIp` (20): every sign-up sends an email.
  test('limits sign-ups per client IP before anything is hashed or written, alike for new and existing addresses; another IP is not affected', async ({
    flow: h,
  }) => {
    const existing = await h.user();
    // A documentation address (RFC 5737) of its own per run, so reruns against one Redis do not share a window.
    const ip = `198.51.100.${1 + Math.floor(Math.random() * 250)}`;
    const other = `2001:db8::${randomUUID().slice(0, 4)}`;
    // Existing addresses use the window up (nothing is created for them); the 20th is still answered.
    for (let i = 0; i < 20; i++) expect(await signUp.signUp({ ...base, email: existing.email }, { ip })).toEqual({ accepted: true });
    const fresh = `limited-${randomUUID().slice(0, 8)}@example.test`;
    const refused: unknown[] = [];
    for (const email of [fresh, existing.email]) refused.push(await signUp.signUp({ ...base, email }, { ip }).catch((e: unknown) => e));
    for (const error of refused) {
      expect(error).toBeInstanceOf(RateLimitedError);
      expect((error as RateLimitedError).retryAfterMs).toBeGreaterThan(0);
      expect((error as RateLimitedError).retryAfterMs).toBeLessThanOrEqual(3_600_000);
    }
    // Refused before anything was written: no user for the new address.
    expect((await counts(h, fresh)).users).toBe(0);
    expect(await signUp.signUp({ ...base, email: fresh }, { ip: other })).toEqual({ accepted: true });
    expect((await counts(h, fresh)).users).toBe(1);
    await expect(signUp.signUp({ ...base, email: fresh }, { ip: 'not an ip' })).rejects.toBeInstanceOf(ValidationError);
  });
});
