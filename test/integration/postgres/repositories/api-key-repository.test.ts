import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { NotFoundError, TokenError } from '../../../../src/errors.js';
import { ApiKeyRepository } from '../../../../src/postgres/repositories/api-key-repository.js';
import type { TenantContext } from '../../../../src/tenancy/tenant-context.js';
import { requireStores } from '../../../support/require-stores.js';
import { test } from '../../../support/fixtures.js';

describe.skipIf(!requireStores('postgres'))('ApiKeyRepository', () => {
  let keys: ApiKeyRepository;
  let ctx: TenantContext;

  test.beforeAll(async ({ postgres: h }) => {
    keys = h.platform.resolve(ApiKeyRepository);
    ctx = await h.tenant();
  });

  test('creates a key shown once; stores prefix and hash only; verifies it', async ({ postgres: h }) => {
    const { key, apiKey } = await keys.create(ctx, { name: 'ci', scopes: ['knowledge:read'], rateLimitPerMinute: 600, rateLimitBurst: 50 });
    expect(key).toMatch(/^pd_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(apiKey).toMatchObject({
      organizationId: ctx.organizationId,
      createdBy: ctx.userId,
      scopes: ['knowledge:read'],
      rateLimitPerMinute: 600,
      rateLimitBurst: 50,
    });
    const secret = key.split('_').slice(2).join('_');
    const dump = await h.postgres.ownerPool.oneFirst(sql.type(z.object({ t: z.string() }))`
      SELECT row_to_json(k)::text AS t FROM api_keys k WHERE id = ${apiKey.id}`);
    expect(dump).not.toContain(secret);
    expect(await keys.findByPrefix(apiKey.prefix)).toEqual(apiKey);
    // With the role its creator holds now, which the key acts with.
    expect(await keys.verify(key)).toEqual({ ...apiKey, creatorRole: ctx.role });
  });

  test('refuses wrong secrets, unknown prefixes, malformed, revoked and expired keys', async ({ postgres: h }) => {
    const { key, apiKey } = await keys.create(ctx, { name: 'k' });
    const wrong = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
    await expect(keys.verify(wrong)).rejects.toMatchObject({ reason: 'invalid' });
    await expect(keys.verify(`pd_${'0'.repeat(16)}_${'A'.repeat(43)}`)).rejects.toMatchObject({ reason: 'invalid' });
    const malformed = await keys.verify('nope').catch((e: unknown) => e);
    expect(malformed).toBeInstanceOf(TokenError);
    expect((malformed as Error).message).not.toContain('nope');

    const expiring = await keys.create(ctx, { name: 'soon', expiresAt: new Date(Date.now() + 60_000) });
    await h.postgres.ownerPool.query(sql.unsafe`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = ${expiring.apiKey.id}`);
    await expect(keys.verify(expiring.key)).rejects.toMatchObject({ reason: 'expired' });

    const revoked = await keys.revoke(ctx, apiKey.id);
    expect(revoked.revokedAt).toBeInstanceOf(Date);
    expect((await keys.revoke(ctx, apiKey.id)).revokedAt).toEqual(revoked.revokedAt);
    await expect(keys.verify(key)).rejects.toMatchObject({ reason: 'revoked' });
  });

  test('touches last_used at most once per interval', async () => {
    const { apiKey } = await keys.create(ctx, { name: 'touch' });
    expect(await keys.touchLastUsed(apiKey.id)).toBe(true);
    expect(await keys.touchLastUsed(apiKey.id)).toBe(false);
    expect(await keys.touchLastUsed(apiKey.id, 0)).toBe(true);
    expect((await keys.get(ctx, apiKey.id)).lastUsedAt).toBeInstanceOf(Date);
  });

  test('updates scopes and limits; lists by keyset; another tenant sees nothing', async ({ postgres: h }) => {
    const other = await h.tenant();
    const created = [];
    for (let i = 0; i < 3; i++) created.push((await keys.create(other, { name: `k${i}` })).apiKey);
    const updated = await keys.update(other, created[0]?.id ?? '', { scopes: ['admin:*'], rateLimitPerMinute: null, rateLimitBurst: 5 });
    expect(updated).toMatchObject({ scopes: ['admin:*'], rateLimitPerMinute: null, rateLimitBurst: 5 });
    const p1 = await keys.list(other, { limit: 2 });
    const p2 = await keys.list(other, { limit: 2, cursor: p1.nextCursor });
    expect([...p1.items, ...p2.items].map((k) => k.id)).toEqual(created.map((k) => k.id));
    expect(p2.nextCursor).toBeUndefined();
    await expect(keys.get(ctx, created[0]?.id ?? '')).rejects.toBeInstanceOf(NotFoundError);
    await expect(keys.revoke(ctx, created[0]?.id ?? '')).rejects.toBeInstanceOf(NotFoundError);
  });

  test('validates input before SQL', async () => {
    await expect(keys.create(ctx, { name: '' })).rejects.toMatchObject({ fields: ['name'] });
    await expect(keys.create(ctx, { name: 'x'.repeat(201) })).rejects.toMatchObject({ fields: ['name'] });
    await expect(keys.create(ctx, { name: 'x', scopes: ['Bad Scope'] })).rejects.toMatchObject({ fields: ['scopes.0'] });
    await expect(keys.create(ctx, { name: 'x', rateLimitPerMinute: 0 })).rejects.toMatchObject({ fields: ['rateLimitPerMinute'] });
    await expect(keys.create(ctx, { name: 'x', expiresAt: new Date(0) })).rejects.toMatchObject({ fields: ['expiresAt'] });
    await expect(keys.get(ctx, 'nope')).rejects.toMatchObject({ fields: ['id'] });
    await expect(keys.findByPrefix("x' OR 1=1 --")).rejects.toMatchObject({ fields: ['prefix'] });
    await expect(keys.touchLastUsed(randomUUID())).resolves.toBe(false);
  });
});
