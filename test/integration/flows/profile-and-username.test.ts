import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConflictError, InvalidCredentialsError, ValidationError } from '../../../src/errors.js';
import { UserRepository } from '../../../src/postgres/repositories/user-repository.js';
import { LoginThrottle } from '../../../src/redis/repositories/login-throttle.js';
import { PasswordHasher } from '../../../src/security/password-hasher.js';
import { createTenantContext, type TenantContext } from '../../../src/tenancy/tenant-context.js';
import { PASSWORD, startFlowHarness, type FlowHarness } from './flow-test-platform.js';
import { requireStores } from '../../support/require-stores.js';

const WRONG = 'Wrong-password-123';

describe.skipIf(!requireStores('postgres', 'redis'))('user profile and username sign-in (UserRepository, PasswordSignIn)', () => {
  let h: FlowHarness;
  let users: UserRepository;
  const tag = () => Math.random().toString(36).slice(2, 10);

  beforeAll(async () => {
    h = await startFlowHarness();
    users = h.platform.resolve(UserRepository);
  });
  afterAll(async () => h?.stop());

  const member = async (): Promise<{ ctx: TenantContext; email: string; userId: string }> => {
    const u = await h.user();
    return { ...u, ctx: createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'member' }) };
  };

  it('stores the profile in canonical form, reads it back, keeps omitted fields and clears null ones', async () => {
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

  it.each([
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

  it('keeps usernames unique case-insensitively and stores them lowercase', async () => {
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

  it('signs in with the username wherever the email works, in any case', async () => {
    const u = await member();
    const username = `grace_${tag()}`;
    await users.updateProfile(u.ctx, { username });
    const byName = await h.signIn.login(username.toUpperCase(), PASSWORD, { ip: '198.51.100.7' });
    expect(byName).toMatchObject({ status: 'signed_in', user: { id: u.userId, username } });
    const byEmail = await h.signIn.login(u.email, PASSWORD, { ip: '198.51.100.7' });
    expect(byEmail).toMatchObject({ status: 'signed_in', user: { id: u.userId } });
  });

  it('answers an unknown username exactly as an unknown email: the same error and the same dummy bcrypt', async () => {
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

  it('counts failures by username in the same lockout as by email: the lock then holds for the email too', async () => {
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

  it('refuses an identifier that is neither an email nor a username, naming it', async () => {
    const error = await h.signIn.login('not an account!', PASSWORD, {}).then(
      () => expect.fail('accepted'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).fields).toEqual(['identifier']);
  });
});
