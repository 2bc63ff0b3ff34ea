import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { ConflictError, ValidationError } from '../../../../src/errors.js';
import { RefreshTokenRepository } from '../../../../src/postgres/repositories/refresh-token-repository.js';
import { SessionRepository } from '../../../../src/postgres/repositories/session-repository.js';
import type { TenantContext } from '../../../../src/tenancy/tenant-context.js';
import { requireStores } from '../../../support/require-stores.js';
import { test } from '../../../support/fixtures.js';

describe.skipIf(!requireStores('postgres'))('SessionRepository', () => {
  let sessions: SessionRepository;
  let ctx: TenantContext;

  test.beforeAll(async ({ postgres: h }) => {
    sessions = h.platform.resolve(SessionRepository);
    ctx = await h.tenant();
  });

  test('creates a session in the tenant and reads it by id and jti', async () => {
    const jti = randomUUID();
    const s = await sessions.create(ctx, { accessTokenJti: jti, device: 'laptop', ip: '2001:db8::1', userAgent: 'vitest', ttlSeconds: 3600 });
    expect(s).toMatchObject({ userId: ctx.userId, organizationId: ctx.organizationId, ip: '2001:db8::1', device: 'laptop', revokedAt: null });
    expect(s.expiresAt.getTime() - s.createdAt.getTime()).toBeGreaterThan(3_590_000);
    expect(await sessions.get(s.id)).toEqual(s);
    expect(await sessions.getByJti(jti)).toEqual(s);
    expect(await sessions.get(randomUUID())).toBeUndefined();
  });

  test('rejects bad input with ValidationError naming the field, duplicates with ConflictError', async () => {
    await expect(sessions.create(ctx, { accessTokenJti: randomUUID(), ip: '999.1.1.1' })).rejects.toMatchObject({ fields: ['ip'] });
    await expect(sessions.create(ctx, { accessTokenJti: randomUUID(), userAgent: 'x'.repeat(1001) })).rejects.toMatchObject({ fields: ['userAgent'] });
    await expect(sessions.create(ctx, { accessTokenJti: '' })).rejects.toBeInstanceOf(ValidationError);
    await expect(sessions.get('nope')).rejects.toMatchObject({ fields: ['id'] });
    await expect(sessions.revoke(randomUUID(), '')).rejects.toMatchObject({ fields: ['reason'] });
    const jti = randomUUID();
    await sessions.create(ctx, { accessTokenJti: jti });
    const error = await sessions.create(ctx, { accessTokenJti: jti }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).constraint).toBe('sessions_access_token_jti_key');
  });

  test('touch writes at most once per interval', async ({ postgres: h }) => {
    const s = await sessions.create(ctx, { accessTokenJti: randomUUID() });
    expect(await sessions.touch(s.id)).toBe(false);
    await h.postgres.ownerPool.query(sql.unsafe`UPDATE sessions SET last_seen_at = now() - interval '2 minutes' WHERE id = ${s.id}`);
    expect(await sessions.touch(s.id)).toBe(true);
    expect(await sessions.touch(s.id)).toBe(false);
    expect(await sessions.touch(s.id, 0)).toBe(true);
  });

  test('revoke revokes the session and its refresh tokens, once', async ({ postgres: h }) => {
    const tokens = h.platform.resolve(RefreshTokenRepository);
    const s = await sessions.create(ctx, { accessTokenJti: randomUUID() });
    const { refreshToken } = await tokens.issue(s.id);
    const revoked = await sessions.revoke(s.id, 'logout');
    expect(revoked).toMatchObject({ id: s.id, accessTokenJti: s.accessTokenJti });
    expect(await sessions.revoke(s.id, 'logout')).toBeUndefined();
    expect((await sessions.get(s.id))?.revokedReason).toBe('logout');
    const revokedAt = await h.postgres.ownerPool.oneFirst(sql.type(z.object({ revoked_at: z.date().nullable() }))`
      SELECT revoked_at FROM refresh_tokens WHERE id = ${refreshToken.id}`);
    expect(revokedAt).toBeInstanceOf(Date);
    expect(await sessions.touch(s.id, 0)).toBe(false);
  });

  test('revokeAllForUser revokes across organizations and returns the jtis; lists page by keyset', async ({ postgres: h }) => {
    const userId = await h.user();
    const ctxA = await h.member(await h.org(), userId);
    const ctxB = await h.member(await h.org(), userId);
    const created = [];
    for (let i = 0; i < 5; i++) created.push(await sessions.create(i % 2 ? ctxA : ctxB, { accessTokenJti: randomUUID() }));

    const first = await sessions.listActiveForUser(userId, { limit: 2 });
    expect(first.items).toHaveLength(2);
    const second = await sessions.listActiveForUser(userId, { limit: 2, cursor: first.nextCursor });
    const third = await sessions.listActiveForUser(userId, { limit: 2, cursor: second.nextCursor });
    expect(third.nextCursor).toBeUndefined();
    const listed = [...first.items, ...second.items, ...third.items].map((s) => s.id);
    expect(listed).toEqual(created.map((s) => s.id).reverse());

    const orgPage = await sessions.listForOrganization(ctxA, { limit: 10 });
    expect(orgPage.items.map((s) => s.organizationId)).toEqual([ctxA.organizationId, ctxA.organizationId]);
    await expect(sessions.listActiveForUser(userId, { limit: 2, cursor: 'garbage' })).rejects.toMatchObject({ fields: ['page.cursor'] });
    await expect(sessions.listActiveForUser(userId, { limit: 0 })).rejects.toMatchObject({ fields: ['page.limit'] });

    const revoked = await sessions.revokeAllForUser(userId, 'suspended');
    expect(new Set(revoked.map((r) => r.accessTokenJti))).toEqual(new Set(created.map((s) => s.accessTokenJti)));
    expect((await sessions.listActiveForUser(userId)).items).toEqual([]);
    expect(await sessions.revokeAllForUser(userId, 'suspended')).toEqual([]);
  });

  test('tenant B cannot list tenant A sessions', async ({ postgres: h }) => {
    const other = await h.tenant();
    await sessions.create(ctx, { accessTokenJti: randomUUID() });
    const page = await sessions.listForOrganization(other);
    expect(page.items).toEqual([]);
  });
});
