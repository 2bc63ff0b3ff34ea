import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { describe, expect, vi } from 'vitest';
import { ConflictError, InvalidCredentialsError, ValidationError } from '../../../src/errors.js';
import { UserRepository } from '../../../src/postgres/repositories/user-repository.js';
import { expectSignedIn } from '../../../src/flows/auth/expect-signed-in.js';
import { OAuthSignIn } from '../../../src/flows/auth/oauth-sign-in.js';
import { OrganizationDomains } from '../../../src/flows/organizations/organization-domains.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { IdentityRepository } from '../../../src/postgres/repositories/identity-repository.js';
import { OrganizationRepository } from '../../../src/postgres/repositories/organization-repository.js';
import { z } from 'zod';
import { LoginThrottle } from '../../../src/redis/repositories/login-throttle.js';
import { PasswordHasher } from '../../../src/security/password-hasher.js';
import { createTenantContext, type TenantContext } from '../../../src/tenancy/tenant-context.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import type { FlowHarness } from '../../support/flow-harness.js';
import { requireStores } from '../../support/require-stores.js';
import { test } from '../../support/fixtures.js';

const WRONG = 'Wrong-password-123';

describe.skipIf(!requireStores('postgres', 'redis'))('user profile and username sign-in (UserRepository, PasswordSignIn)', () => {
  let h: FlowHarness;
  let users: UserRepository;
  const tag = () => Math.random().toString(36).slice(2, 10);

  test.beforeAll(async ({ flow }) => {
    h = flow;
    users = h.platform.resolve(UserRepository);
  });

  const member = async (): Promise<{ ctx: TenantContext; email: string; userId: string }> => {
    const u = await h.user();
    return { ...u, ctx: createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'member' }) };
  };

  test('stores the profile in canonical form, reads it back, keeps omitted fields and clears null ones', async () => {
    const { ctx } = await member();
    const updated = await users.updateProfile(ctx, {
      firstName: ' Ada ',
      lastName: 'Lovelace',
      avatarUrl: 'https://cdn.example.test/avatars/ada.png',
      // IANA tzdb names; ICU canonicalizes case and the Etc/UTC link (CLDR timezone.xml aliases).
      timezone: 'europe/paris',
      // RFC 5646 §2.1.1: language lowercase, script titlecase, region uppercase.
      language: 'zh-hant-tw',
    });
    expect(updated).toMatchObject({
      firstName: 'Ada',
      lastName: 'Lovelace',
      avatarUrl: 'https://cdn.example.test/avatars/ada.png',
      timezone: 'Europe/Paris',
      language: 'zh-Hant-TW',
      username: null,
    });
    expect(await users.getCurrent(ctx)).toEqual(updated);

    const next = await users.updateProfile(ctx, { timezone: 'Etc/UTC', language: 'EN-us', avatarUrl: null });
    expect(next).toMatchObject({ firstName: 'Ada', lastName: 'Lovelace', timezone: 'UTC', language: 'en-US', avatarUrl: null });
  });

  test.each([
    ['timezone', 'Mars/Olympus'],
    ['timezone', '+01:00'],
    ['language', 'en_US'],
    ['language', 'not a tag'],
    ['avatarUrl', 'http://cdn.example.test/a.png'],
    ['avatarUrl', 'javascript:alert(1)'],
    ['avatarUrl', 'https://user:secret@cdn.example.test/a.png'],
    ['username', 'ab'],
    ['username', '-alice'],
    ['username', 'al..ice'],
    ['username', 'al ice'],
    ['username', 'alice@example.test'],
    ['firstName', ''],
  ])('refuses %s %j with a ValidationError naming the field, and changes nothing', async (field, value) => {
    const { ctx } = await member();
    const before = await users.getCurrent(ctx);
    const error = await users.updateProfile(ctx, { [field]: value }).then(
      () => expect.fail('accepted'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).fields).toEqual([field]);
    expect(await users.getCurrent(ctx)).toEqual(before);
  });

  test('keeps usernames unique case-insensitively and stores them lowercase', async () => {
    const name = `Ada.${tag()}`;
    const a = await member();
    const b = await member();
    expect((await users.updateProfile(a.ctx, { username: name })).username).toBe(name.toLowerCase());
    const error = await users.updateProfile(b.ctx, { username: name.toUpperCase() }).then(
      () => expect.fail('accepted'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConflictError);
    expect(error).toMatchObject({ constraint: 'users_username_key' });
    // Released when its holder drops it.
    await users.updateProfile(a.ctx, { username: null });
    expect((await users.updateProfile(b.ctx, { username: name })).username).toBe(name.toLowerCase());
  });

  test('signs in with the username wherever the email works, in any case', async () => {
    const u = await member();
    const username = `grace_${tag()}`;
    await users.updateProfile(u.ctx, { username });
    const byName = await h.signIn.login(username.toUpperCase(), PASSWORD, { ip: '198.51.100.7' });
    expect(byName).toMatchObject({ status: 'signed_in', user: { id: u.userId, username } });
    const byEmail = await h.signIn.login(u.email, PASSWORD, { ip: '198.51.100.7' });
    expect(byEmail).toMatchObject({ status: 'signed_in', user: { id: u.userId } });
  });

  test('answers an unknown username exactly as an unknown email: the same error and the same dummy bcrypt', async () => {
    const hasher = h.platform.resolve(PasswordHasher);
    const dummy = vi.spyOn(hasher, 'verifyDummy');
    const real = vi.spyOn(hasher, 'verify');
    try {
      const answer = (identifier: string) =>
        h.signIn.login(identifier, PASSWORD, {}).then(
          () => expect.fail('signed in'),
          (e: unknown) => e as InvalidCredentialsError,
        );
      const unknownEmail = await answer(`nobody-${tag()}@example.test`);
      const unknownName = await answer(`nobody_${tag()}`);
      expect(unknownName).toBeInstanceOf(InvalidCredentialsError);
      expect(unknownEmail).toBeInstanceOf(InvalidCredentialsError);
      expect({ code: unknownName.code, message: unknownName.message }).toEqual({ code: unknownEmail.code, message: unknownEmail.message });
      expect(dummy).toHaveBeenCalledTimes(2);
      expect(real).not.toHaveBeenCalled();
    } finally {
      dummy.mockRestore();
      real.mockRestore();
    }
  });

  test('counts failures by username in the same lockout as by email: the lock then holds for the email too', async () => {
    const u = await member();
    const username = `locked_${tag()}`;
    await users.updateProfile(u.ctx, { username });
    const threshold = h.platform.config.auth.lockoutThreshold;
    for (let i = 0; i < threshold; i++) await expect(h.signIn.login(username, WRONG, {})).rejects.toBeInstanceOf(InvalidCredentialsError);
    expect((await users.getById(u.userId))?.lockedUntil?.getTime()).toBeGreaterThan(Date.now());
    // The Redis throttle of the email is untouched; the PostgreSQL lockout is per account.
    await h.platform.resolve(LoginThrottle).reset({ email: u.email });
    await expect(h.signIn.login(u.email, PASSWORD, {})).rejects.toBeInstanceOf(InvalidCredentialsError);
  });

  test('refuses an identifier that is neither an email nor a username, naming it', async () => {
    const error = await h.signIn.login('not an account!', PASSWORD, {}).then(
      () => expect.fail('accepted'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).fields).toEqual(['identifier']);
  });

  test('keeps the provider handle on the identity (Discord username and discriminator), refreshed at each sign-in', async () => {
    const oauth = h.platform.resolve(OAuthSignIn);
    const identities = h.platform.resolve(IdentityRepository);
    const providerUserId = `discord-${randomUUID()}`;
    const email = `d-${tag()}@example.test`;
    // Discord's user object: `username`, and `discriminator` "0" once migrated to unique usernames (discord.com/developers/docs/resources/user).
    const first = expectSignedIn(
      await oauth.signIn({ provider: 'discord', providerUserId, email, emailVerified: true, providerUsername: 'Wumpus', providerDiscriminator: '1234' }),
    );
    expect(await identities.findByProvider('discord', providerUserId)).toMatchObject({ providerUsername: 'Wumpus', providerDiscriminator: '1234' });
    await oauth.signIn({ provider: 'discord', providerUserId, email, emailVerified: true, providerUsername: 'wumpus', providerDiscriminator: '0' });
    const [identity] = await identities.listForUser(first.user.id);
    expect(identity).toMatchObject({ provider: 'discord', providerUserId, providerUsername: 'wumpus', providerDiscriminator: '0' });
    await expect(oauth.signIn({ provider: 'discord', providerUserId, email, providerDiscriminator: '12345' })).rejects.toBeInstanceOf(ValidationError);
  });

  test("shows the organization's earliest verified domain as its primaryDomain, in every read of it", async () => {
    const u = await h.user();
    const ctx = createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner' });
    const domains = h.platform.resolve(OrganizationDomains);
    const organizations = h.platform.resolve(OrganizationRepository);
    const dns = (records: Record<string, string[]>) => async (name: string) => records[name] ?? [];
    expect((await organizations.getCurrent(ctx)).primaryDomain).toBeNull();
    const first = await domains.addDomain(ctx, `first-${tag()}.example`);
    const second = await domains.addDomain(ctx, `second-${tag()}.example`);
    // A claim is not a domain of the organization until verified.
    expect((await organizations.getCurrent(ctx)).primaryDomain).toBeNull();
    await domains.verifyDomain(ctx, second.id, dns({ [second.challenge.name]: [second.challenge.value] }));
    await domains.verifyDomain(ctx, first.id, dns({ [first.challenge.name]: [first.challenge.value] }));
    expect((await organizations.getCurrent(ctx)).primaryDomain).toBe(second.domain);
    // Also where the organization is read outside its own context (the user's list, a pre-tenant read).
    const listed = (await organizations.listForCurrentUser(ctx)).items.find((o) => o.id === u.organizationId);
    expect(listed?.primaryDomain).toBe(second.domain);
    expect((await organizations.getById(u.organizationId))?.primaryDomain).toBe(second.domain);
    await domains.removeDomain(ctx, second.id);
    expect((await organizations.getCurrent(ctx)).primaryDomain).toBe(first.domain);
  });

  test('has the lookup indexes of users and organizations, valid, and the planner uses them for the lists they serve', async () => {
    const owner = h.platform.resolve(PostgresConnection).ownerPool;
    const indexes = await owner.any(sql.type(z.object({ name: z.string(), valid: z.boolean(), definition: z.string() }))`
      SELECT c.relname AS name, i.indisvalid AS valid, pg_get_indexdef(i.indexrelid) AS definition
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE c.relname IN ('users_username_key', 'users_last_login_at_idx', 'users_status_idx', 'organizations_tier_idx') ORDER BY 1`);
    expect(indexes.map((i) => [i.name, i.valid])).toEqual([
      ['organizations_tier_idx', true],
      ['users_last_login_at_idx', true],
      ['users_status_idx', true],
      ['users_username_key', true],
    ]);
    // A population where each list is selective (most users active and recently signed in, most organizations
    // free), then fresh statistics: the planner must pick the index over scanning the table.
    await owner.query(sql.unsafe`
      INSERT INTO users (email, status, last_login_at)
      SELECT 'bulk-' || g || '-' || gen_random_uuid() || '@example.test', 'active', now() - (g % 30) * interval '1 day'
      FROM generate_series(1, 5000) g`);
    await owner.query(sql.unsafe`
      INSERT INTO organizations (name, slug) SELECT 'Bulk ' || g, 'bulk-' || g || '-' || substr(md5(random()::text), 1, 8) FROM generate_series(1, 3000) g`);
    await owner.query(sql.unsafe`ANALYZE users`);
    await owner.query(sql.unsafe`ANALYZE organizations`);
    const plan = async (query: ReturnType<typeof sql.unsafe>) => JSON.stringify(await owner.any(query));
    const plans = {
      dormant: await plan(sql.unsafe`EXPLAIN (FORMAT JSON) SELECT id FROM users WHERE deleted_at IS NULL AND last_login_at < now() - interval '90 days'`),
      suspended: await plan(sql.unsafe`EXPLAIN (FORMAT JSON) SELECT id FROM users WHERE status = 'suspended'`),
      paying: await plan(sql.unsafe`EXPLAIN (FORMAT JSON) SELECT id FROM organizations WHERE tier = 'enterprise' AND deleted_at IS NULL`),
    };
    expect(plans.dormant).toContain('users_last_login_at_idx');
    expect(plans.suspended).toContain('users_status_idx');
    expect(plans.paying).toContain('organizations_tier_idx');
  });
});
