import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../../../../src/config.js';
import { ConflictError, CryptoError, NotFoundError, ValidationError } from '../../../../src/errors.js';
import { createPlatform } from '../../../../src/platform.js';
import { IdentityRepository, type IdentityProvider } from '../../../../src/postgres/repositories/identity-repository.js';
import { SecretBox } from '../../../../src/security/secret-box.js';
import { type PostgresHarness } from '../../../support/postgres-harness.js';
import { requireStores } from '../../../support/require-stores.js';
import { test } from '../../../support/fixtures.js';

const secrets = z.object({ id: z.uuid(), access_token_encrypted: z.instanceof(Buffer).nullable(), refresh_token_encrypted: z.instanceof(Buffer).nullable() });

describe.skipIf(!requireStores('postgres'))('IdentityRepository', () => {
  let identities: IdentityRepository;

  const raw = (h: PostgresHarness, id: string) =>
    h.postgres.ownerPool.one(sql.type(secrets)`SELECT id, access_token_encrypted, refresh_token_encrypted FROM identities WHERE id = ${id}`);

  test.beforeAll(async ({ postgres: h }) => {
    identities = h.platform.resolve(IdentityRepository);
  });

  test('links, finds by provider, lists without tokens, decrypts tokens, unlinks', async ({ postgres: h }) => {
    const userId = await h.user();
    const access = `ya29.${randomBytes(24).toString('hex')}`;
    const refresh = `1//${randomBytes(24).toString('hex')}`;
    const linked = await identities.link(userId, {
      provider: 'google',
      providerUserId: 'g-123',
      email: 'a@example.test',
      accessToken: access,
      refreshToken: refresh,
      tokenExpiresAt: new Date(Date.now() + 3600_000),
    });
    expect(linked).toMatchObject({ userId, provider: 'google', providerUserId: 'g-123', hasAccessToken: true, hasRefreshToken: true });
    expect(JSON.stringify(linked)).not.toContain(access);
    expect(await identities.findByProvider('google', 'g-123')).toEqual(linked);
    expect(await identities.findByProvider('google', 'other')).toBeUndefined();
    expect(await identities.listForUser(userId)).toEqual([linked]);
    expect(await identities.getTokens(userId, 'google')).toMatchObject({ accessToken: access, refreshToken: refresh });

    const row = await raw(h, linked.id);
    expect(row.access_token_encrypted?.includes(Buffer.from(access))).toBe(false);
    expect(row.refresh_token_encrypted?.toString('latin1')).not.toContain(refresh);

    const updated = await identities.updateTokens(userId, 'google', { accessToken: 'new-access', refreshToken: null });
    expect(updated).toMatchObject({ hasAccessToken: true, hasRefreshToken: false });
    expect(await identities.getTokens(userId, 'google')).toMatchObject({ accessToken: 'new-access', refreshToken: null });

    expect(await identities.unlink(userId, 'google')).toBe(true);
    expect(await identities.unlink(userId, 'google')).toBe(false);
    await expect(identities.getTokens(userId, 'google')).rejects.toBeInstanceOf(NotFoundError);
  });

  test('binds ciphertexts to their row and column (AAD)', async ({ postgres: h }) => {
    const a = await identities.link(await h.user(), {
      provider: 'github',
      providerUserId: `gh-${randomUUID()}`,
      accessToken: 'token-a',
      refreshToken: 'refresh-a',
    });
    const bUser = await h.user();
    const b = await identities.link(bUser, { provider: 'github', providerUserId: `gh-${randomUUID()}`, accessToken: 'token-b', refreshToken: 'refresh-b' });
    const rowA = await raw(h, a.id);
    await h.postgres.ownerPool.query(
      sql.unsafe`UPDATE identities SET access_token_encrypted = ${sql.binary(rowA.access_token_encrypted ?? Buffer.alloc(0))} WHERE id = ${b.id}`,
    );
    await expect(identities.getTokens(bUser, 'github')).rejects.toBeInstanceOf(CryptoError);
    // Column swap within one row fails as well.
    const rowB = await raw(h, b.id);
    await h.postgres.ownerPool.query(sql.unsafe`
      UPDATE identities SET access_token_encrypted = ${sql.binary(rowB.refresh_token_encrypted ?? Buffer.alloc(0))} WHERE id = ${b.id}`);
    await expect(identities.getTokens(bUser, 'github')).rejects.toBeInstanceOf(CryptoError);
  });

  test('duplicates give ConflictError naming the constraint; bad input gives ValidationError', async ({ postgres: h }) => {
    const userId = await h.user();
    const providerUserId = `d-${randomUUID()}`;
    await identities.link(userId, { provider: 'discord', providerUserId });
    await expect(identities.link(await h.user(), { provider: 'discord', providerUserId })).rejects.toMatchObject({
      constraint: 'identities_provider_user_key',
    });
    const other = await identities.link(userId, { provider: 'discord', providerUserId: `x-${randomUUID()}` }).catch((e: unknown) => e);
    expect(other).toBeInstanceOf(ConflictError);
    expect((other as ConflictError).constraint).toBe('identities_user_provider_key');
    await expect(identities.link(userId, { provider: 'myspace' as IdentityProvider, providerUserId: 'x' })).rejects.toMatchObject({ fields: ['provider'] });
    await expect(identities.link(userId, { provider: 'apple', providerUserId: 'x', email: 'not-an-email' })).rejects.toMatchObject({ fields: ['email'] });
    await expect(identities.link(userId, { provider: 'apple', providerUserId: 'x'.repeat(256) })).rejects.toMatchObject({ fields: ['providerUserId'] });
    await expect(identities.link('nope', { provider: 'apple', providerUserId: 'x' })).rejects.toBeInstanceOf(ValidationError);
  });

  test('reencryptAll moves every token to the active key', async ({ postgres: h }) => {
    const userId = await h.user();
    const linked = await identities.link(userId, {
      provider: 'microsoft',
      providerUserId: `m-${randomUUID()}`,
      accessToken: 'rotate-me',
      refreshToken: 'and-me',
    });
    const ring = `${h.t.env.PLATFORM_ENCRYPTION_KEYS ?? ''},k2:${randomBytes(32).toString('base64')}`;
    const rotated = createPlatform(loadConfig({ ...h.t.env, PLATFORM_ENCRYPTION_KEYS: ring, PLATFORM_ENCRYPTION_ACTIVE_KEY_ID: 'k2' }), {
      stores: ['postgres'],
    });
    await rotated.start();
    try {
      const repo = rotated.resolve(IdentityRepository);
      const result = await repo.reencryptAll(2);
      expect(result.rewritten).toBeGreaterThanOrEqual(1);
      // The rows tampered with by the AAD test are skipped and reported, not fatal.
      expect(result.failedIds.length).toBeGreaterThanOrEqual(1);
      expect(result.failedIds).not.toContain(linked.id);
      const box = rotated.resolve(SecretBox);
      const row = await raw(h, linked.id);
      expect(box.keyIdOf(row.access_token_encrypted ?? Buffer.alloc(0))).toBe('k2');
      expect(box.keyIdOf(row.refresh_token_encrypted ?? Buffer.alloc(0))).toBe('k2');
      expect(await repo.getTokens(userId, 'microsoft')).toMatchObject({ accessToken: 'rotate-me', refreshToken: 'and-me' });
      expect(await repo.reencryptAll()).toEqual({ rewritten: 0, failedIds: result.failedIds });
    } finally {
      await rotated.stop();
    }
  });
});
