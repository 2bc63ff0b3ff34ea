import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { describe, expect } from 'vitest';
import { test } from '../../../support/fixtures.js';
import { ConflictError, TenantAccessError, ValidationError } from '../../../../src/errors.js';
import { createLogger } from '../../../../src/logger.js';
import { PostgresConnection } from '../../../../src/postgres/postgres-connection.js';
import { AuditRepository } from '../../../../src/postgres/repositories/audit-repository.js';
import { MembershipRepository } from '../../../../src/postgres/repositories/membership-repository.js';
import { OrganizationRepository } from '../../../../src/postgres/repositories/organization-repository.js';
import { UserRepository } from '../../../../src/postgres/repositories/user-repository.js';
import { createTenantContext, type TenantContext } from '../../../../src/tenancy/tenant-context.js';
import type { MembershipRole } from '../../../../src/tenancy/membership-role.js';
import { requireStores } from '../../../support/require-stores.js';

const HASH = `$2b$04$${'a'.repeat(53)}`;
const unique = () => randomBytes(4).toString('hex');

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe.skipIf(!requireStores('postgres'))('organization, user and membership repositories', () => {
  let postgres: PostgresConnection;
  let users: UserRepository;
  let organizations: OrganizationRepository;
  let memberships: MembershipRepository;

  test.beforeAll(async ({ testEnv: t }) => {
    postgres = new PostgresConnection(t.config, createLogger('silent'));
    await postgres.start();
    users = new UserRepository(postgres, new AuditRepository(postgres, t.config));
    organizations = new OrganizationRepository(postgres, new AuditRepository(postgres, t.config));
    memberships = new MembershipRepository(postgres, new AuditRepository(postgres, t.config));
  });
  test.afterAll(async () => {
    await postgres?.stop();
  });

  const newUser = (prefix = 'u') =>
    users.create({ email: `${prefix}-${unique()}@Example.test`, passwordHash: HASH, status: 'active', termsVersion: '2026-01', ageConfirmed: true });
  const ctxFor = (organizationId: string, userId: string, role: MembershipRole) => createTenantContext({ organizationId, userId, role });

  /** Invites and accepts at once: membership by consent. */
  const join = async (ctx: TenantContext, userId: string, role: MembershipRole) =>
    memberships.acceptInvitation((await memberships.add(ctx, { userId, role })).token);

  async function newOrganization(credits = 0): Promise<{ ctx: TenantContext; organizationId: string; ownerId: string }> {
    const owner = await newUser('owner');
    const org = await organizations.create({ name: 'Acme', slug: `acme-${unique()}`, ownerUserId: owner.id, credits });
    return { ctx: ctxFor(org.id, owner.id, 'owner'), organizationId: org.id, ownerId: owner.id };
  }

  test('users: create normalises the email; duplicates (any case) and bad input are typed errors', async () => {
    const email = `Mixed-${unique()}@Example.TEST`;
    const user = await users.create({ email, passwordHash: HASH, termsVersion: 'v1' });
    expect(user).toMatchObject({ email: email.toLowerCase(), status: 'pending_verification', termsVersion: 'v1' });
    expect(user.termsAcceptedAt).toBeInstanceOf(Date);
    expect(user.ageConfirmedAt).toBeNull();

    const duplicate = await rejection(users.create({ email: email.toUpperCase() }));
    expect(duplicate).toBeInstanceOf(ConflictError);
    expect((duplicate as ConflictError).constraint).toBe('users_email_key');

    const bad = await rejection(users.create({ email: 'not-an-email', status: 'admin' as 'active', displayName: 'x'.repeat(201) }));
    expect(bad).toBeInstanceOf(ValidationError);
    expect((bad as ValidationError).fields.sort()).toEqual(['displayName', 'email', 'status']);
    expect(await rejection(users.getById('nope'))).toMatchObject({ fields: ['id'] });

    const found = await users.findCredentialsByEmail(email);
    expect(found?.user.id).toBe(user.id);
    expect(found?.passwordHash).toBe(HASH);
  });

  test('organizations: create with first owner; slug conflicts name the constraint; settings are validated', async () => {
    const { ctx, organizationId, ownerId } = await newOrganization();
    const current = await organizations.getCurrent(ctx);
    expect(current).toMatchObject({ id: organizationId, tier: 'free', credits: 0, settings: {} });
    expect((await memberships.get(ctx, ownerId))?.role).toBe('owner');

    const slug = current.slug;
    const conflict = await rejection(organizations.create({ name: 'Again', slug, ownerUserId: ownerId }));
    expect(conflict).toMatchObject({ constraint: 'organizations_slug_key' });

    const badSettings = await rejection(organizations.update(ctx, { settings: { locale: 'english', colour: 'red' } as never }));
    expect(badSettings).toBeInstanceOf(ValidationError);
    expect((badSettings as ValidationError).fields.sort()).toEqual(['settings', 'settings.locale']);

    const updated = await organizations.update(ctx, { name: 'Acme 2', settings: { locale: 'en-GB', features: { voice: true } } });
    expect(updated).toMatchObject({ name: 'Acme 2', settings: { locale: 'en-GB', features: { voice: true } } });
  });

  test('credits: concurrent debits never overdraw; the loser gets ConflictError', async () => {
    const { ctx } = await newOrganization(10);
    const results = await Promise.allSettled(Array.from({ length: 15 }, () => organizations.debitCredits(ctx, 1)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(failures).toHaveLength(5);
    expect(failures.every((f) => f.reason instanceof ConflictError && f.reason.constraint === 'organizations_credits_non_negative')).toBe(true);
    expect((await organizations.getCurrent(ctx)).credits).toBe(0);
    expect(await organizations.addCredits(ctx, 5)).toBe(5);
    expect(await rejection(organizations.debitCredits(ctx, 0))).toMatchObject({ fields: ['amount'] });
  });

  test('memberships: roles are enforced, the last owner is kept, and lists page by keyset', async () => {
    const { ctx, organizationId, ownerId } = await newOrganization();
    const members = await Promise.all([newUser(), newUser(), newUser(), newUser()]);
    for (const m of members) await join(ctx, m.id, 'member');
    const [adminUser, member] = members;
    if (!adminUser || !member) throw new Error('setup');
    await memberships.changeRole(ctx, adminUser.id, 'admin');

    expect(await rejection(memberships.add(ctx, { userId: member.id }))).toMatchObject({ constraint: 'memberships_organization_user_key' });
    const adminCtx = ctxFor(organizationId, adminUser.id, 'admin');
    expect(await rejection(memberships.changeRole(adminCtx, member.id, 'owner'))).toBeInstanceOf(TenantAccessError);
    expect(await rejection(memberships.remove(adminCtx, ownerId))).toBeInstanceOf(TenantAccessError);
    const memberCtx = ctxFor(organizationId, member.id, 'member');
    expect(await rejection(memberships.changeRole(memberCtx, adminUser.id, 'viewer'))).toBeInstanceOf(TenantAccessError);

    const lastOwner = await rejection(memberships.changeRole(ctx, ownerId, 'admin'));
    expect(lastOwner).toMatchObject({ constraint: 'memberships_last_owner' });

    const seen: string[] = [];
    let after: string | undefined;
    do {
      const page = await memberships.list(ctx, { limit: 2, cursor: after });
      seen.push(...page.items.map((m) => m.userId));
      after = page.nextCursor;
    } while (after);
    expect(seen.sort()).toEqual([ownerId, ...members.map((m) => m.id)].sort());

    expect(await memberships.recordActivity(memberCtx, 3)).toMatchObject({ messagesSent: 3 });
    expect((await memberships.recordActivity(memberCtx))?.messagesSent).toBe(4);
    expect(await memberships.remove(memberCtx, member.id)).toBe(true);

    const listed = await users.listForOrganization(ctx, { limit: 10 });
    const expected = [ownerId, ...members.filter((m) => m.id !== member.id).map((m) => m.id)].sort();
    expect(listed.items.map((u) => u.id).sort()).toEqual(expected);
    // The same prepared statement serves later pages (the cursor is a parameter): page by one.
    const paged: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await users.listForOrganization(ctx, { limit: 1, cursor });
      paged.push(...page.items.map((u) => u.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(paged.sort()).toEqual(expected);
  });

  test('a user sees their organizations across tenants, and never another tenant’s members', async () => {
    const a = await newOrganization();
    const b = await newOrganization();
    await join(b.ctx, a.ownerId, 'viewer');
    const mine = await organizations.listForCurrentUser(a.ctx);
    expect(mine.items.map((o) => o.id).sort()).toEqual([a.organizationId, b.organizationId].sort());
    const membersOfA = await users.listForOrganization(a.ctx);
    expect(membersOfA.items.map((u) => u.id)).toEqual([a.ownerId]);
    expect((await memberships.listForCurrentUser(a.ctx)).map((m) => m.organizationId).sort()).toEqual([a.organizationId, b.organizationId].sort());
  });

  test('lockout: concurrent failures are counted exactly and lock at the threshold', async () => {
    const user = await newUser();
    const results = await Promise.all(Array.from({ length: 5 }, () => users.recordFailedLogin(user.id, { threshold: 3, lockSeconds: 60 })));
    expect(results.map((r) => r?.failedLoginCount).sort()).toEqual([1, 2, 3, 4, 5]);
    const after = await users.getById(user.id);
    expect(after?.failedLoginCount).toBe(5);
    expect(after?.lockedUntil?.getTime()).toBeGreaterThan(Date.now());
    expect(await users.recordSuccessfulLogin(user.id, '203.0.113.7')).toBe(false);
    expect(await rejection(users.recordSuccessfulLogin(user.id, 'not-an-ip'))).toMatchObject({ fields: ['ip'] });
  });
});
