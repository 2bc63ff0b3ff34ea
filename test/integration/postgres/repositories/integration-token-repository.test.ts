import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../../../../src/config.js';
import { CryptoError, NotFoundError } from '../../../../src/errors.js';
import { createPlatform } from '../../../../src/platform.js';
import { IntegrationTokenRepository } from '../../../../src/postgres/repositories/integration-token-repository.js';
import { SecretBox } from '../../../../src/security/secret-box.js';
import type { TenantContext } from '../../../../src/tenancy/tenant-context.js';
import { type PostgresHarness } from '../../../support/postgres-harness.js';
import { requireStores } from '../../../support/require-stores.js';
import { test } from '../../../support/fixtures.js';

const secrets = z.object({ access_token_encrypted: z.instanceof(Buffer), refresh_token_encrypted: z.instanceof(Buffer).nullable() });

describe.skipIf(!requireStores('postgres'))('IntegrationTokenRepository', () => {
  let repo: IntegrationTokenRepository;
  let ctx: TenantContext;

  const raw = (h: PostgresHarness, id: string) =>
    h.postgres.ownerPool.one(sql.type(secrets)`SELECT access_token_encrypted, refresh_token_encrypted FROM integration_tokens WHERE id = ${id}`);
  const expireIn = (h: PostgresHarness, id: string, interval: string) =>
    h.postgres.ownerPool.query(sql.unsafe`UPDATE integration_tokens SET expires_at = now() + ${interval}::interval WHERE id = ${id}`);

  test.beforeAll(async ({ postgres: h }) => {
    repo = h.platform.resolve(IntegrationTokenRepository);
    ctx = await h.tenant();
  });

  test('saves encrypted tokens, replaces them on save, decrypts them for their owner only', async ({ postgres: h }) => {
    const access = `ghp_${randomBytes(20).toString('hex')}`;
    const saved = await repo.save(ctx, {
      integration: 'github',
      accessToken: access,
      refreshToken: 'ghr_refresh',
      scopes: ['repo'],
      expiresAt: new Date(Date.now() + 3600_000),
    });
    expect(saved).toMatchObject({ integration: 'github', hasRefreshToken: true, scopes: ['repo'] });
    const row = await raw(h, saved.id);
    expect(row.access_token_encrypted.includes(Buffer.from(access))).toBe(false);
    expect(row.refresh_token_encrypted?.toString('latin1')).not.toContain('ghr_refresh');
    expect(await repo.get(ctx, 'github')).toMatchObject({ accessToken: access, refreshToken: 'ghr_refresh' });

    const replaced = await repo.save(ctx, { integration: 'github', accessToken: 'second' });
    expect(replaced.id).toBe(saved.id);
    expect(await repo.get(ctx, 'github')).toMatchObject({ accessToken: 'second', refreshToken: null, scopes: [] });

    const colleague = await h.member(ctx.organizationId, await h.user(), 'member');
    await expect(repo.get(colleague, 'github')).rejects.toBeInstanceOf(NotFoundError);
    expect((await repo.list(colleague)).items).toEqual([]);
    expect((await repo.list(ctx)).items.map((t) => t.integration)).toEqual(['github']);
  });

  test('rejects a ciphertext copied to another row (AAD)', async ({ postgres: h }) => {
    const a = await repo.save(ctx, { integration: 'slack', accessToken: 'xoxb-a' });
    const b = await repo.save(ctx, { integration: 'linear', accessToken: 'lin-b' });
    const rowA = await raw(h, a.id);
    await h.postgres.ownerPool.query(
      sql.unsafe`UPDATE integration_tokens SET access_token_encrypted = ${sql.binary(rowA.access_token_encrypted)} WHERE id = ${b.id}`,
    );
    await expect(repo.get(ctx, 'linear')).rejects.toBeInstanceOf(CryptoError);
    await repo.delete(ctx, 'linear');
  });

  test('finds tokens expiring within 5 minutes and deletes those expired over 30 days ago', async ({ postgres: h }) => {
    const other = await h.tenant();
    const soon = await repo.save(other, { integration: 'soon', accessToken: 'a', refreshToken: 'r' });
    const later = await repo.save(other, { integration: 'later', accessToken: 'a', refreshToken: 'r' });
    const dead = await repo.save(other, { integration: 'dead', accessToken: 'a', refreshToken: 'r' });
    const old = await repo.save(other, { integration: 'old', accessToken: 'a', refreshToken: 'r' });
    await expireIn(h, soon.id, '3 minutes');
    await expireIn(h, later.id, '1 hour');
    await expireIn(h, dead.id, '-1 day');
    await expireIn(h, old.id, '-31 days');
    const expiring = await repo.expiringWithin();
    expect(expiring.map((t) => t.id)).toEqual([soon.id]);
    expect(expiring[0]).toMatchObject({ refreshToken: 'r', accessToken: 'a' });
    expect(await repo.deleteExpiredOlderThan()).toBe(1);
    expect((await repo.list(other)).items.map((t) => t.integration).sort()).toEqual(['dead', 'later', 'soon']);
  });

  test('validates input and re-encrypts to the active key', async ({ postgres: h }) => {
    await expect(repo.save(ctx, { integration: 'Not Valid', accessToken: 'a' })).rejects.toMatchObject({ fields: ['integration'] });
    await expect(repo.save(ctx, { integration: 'ok', accessToken: '' })).rejects.toMatchObject({ fields: ['accessToken'] });
    await expect(repo.save(ctx, { integration: 'ok', accessToken: 'a', scopes: ['x'.repeat(201)] })).rejects.toMatchObject({ fields: ['scopes.0'] });
    await expect(repo.expiringWithin(0)).rejects.toMatchObject({ fields: ['minutes'] });

    const saved = await repo.save(ctx, { integration: 'rotate', accessToken: 'rot-a', refreshToken: 'rot-r' });
    const ring = `${h.t.env.PLATFORM_ENCRYPTION_KEYS ?? ''},k2:${randomBytes(32).toString('base64')}`;
    const rotated = createPlatform(loadConfig({ ...h.t.env, PLATFORM_ENCRYPTION_KEYS: ring, PLATFORM_ENCRYPTION_ACTIVE_KEY_ID: 'k2' }), {
      stores: ['postgres'],
    });
    await rotated.start();
    try {
      const rotatedRepo = rotated.resolve(IntegrationTokenRepository);
      const result = await rotatedRepo.reencryptAll(1);
      expect(result.failedIds).toEqual([]);
      expect(result.rewritten).toBeGreaterThanOrEqual(2);
      expect(await rotatedRepo.reencryptAll()).toEqual({ rewritten: 0, failedIds: [] });
      const row = await raw(h, saved.id);
      expect(rotated.resolve(SecretBox).keyIdOf(row.access_token_encrypted)).toBe('k2');
      expect(await rotatedRepo.get(ctx, 'rotate')).toMatchObject({ accessToken: 'rot-a', refreshToken: 'rot-r' });
    } finally {
      await rotated.stop();
    }
  });
});
