import 'reflect-metadata';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { createPlatform, type Platform } from '../../../../src/platform.js';
import { AuditRepository } from '../../../../src/postgres/repositories/audit-repository.js';
import { IntegrationTokenRepository } from '../../../../src/postgres/repositories/integration-token-repository.js';
import { type IntegrationTokenRefreshRequest, type IntegrationTokenRefresher } from '../../../../src/integration-token-options.js';
import type { TenantContext } from '../../../../src/tenancy/tenant-context.js';
import { type PostgresHarness } from '../../../support/postgres-harness.js';
import { requireStores } from '../../../support/require-stores.js';
import { sleep } from '../../../support/sleep.js';
import { test } from '../../../support/fixtures.js';

// Refresh on read (issue 20, seed ProSprint): an OAuth 2.0 refresh (RFC 6749 §6) through the application's
// refresher, once however many readers ask at the same time, and the usage columns.

describe.skipIf(!requireStores('postgres'))('IntegrationTokenRepository: refresh on read and usage', () => {
  let a: Platform;
  let b: Platform;
  const calls: IntegrationTokenRefreshRequest[] = [];
  let behaviour: 'ok' | 'fail' = 'ok';
  // Slow on purpose, so concurrent readers overlap the refresh.
  const refresher: IntegrationTokenRefresher = async (request) => {
    calls.push(request);
    await sleep(300);
    if (behaviour === 'fail') throw new Error('provider answered 400 invalid_grant');
    return {
      accessToken: `new-access-${calls.length}`,
      refreshToken: `new-refresh-${calls.length}`,
      expiresAt: new Date(Date.now() + 3_600_000),
      tokenType: 'Bearer',
    };
  };
  const expireIn = (h: PostgresHarness, id: string, interval: string) =>
    h.postgres.ownerPool.query(sql.unsafe`UPDATE integration_tokens SET expires_at = now() + ${interval}::interval WHERE id = ${id}`);

  test.beforeAll(async ({ postgres: h }) => {
    // Two platforms, two pools: like two processes of the application.
    a = createPlatform(h.t.config, { stores: ['postgres'], integrationTokens: { refreshers: { prosprint: refresher } } });
    b = createPlatform(h.t.config, { stores: ['postgres'], integrationTokens: { refreshers: { prosprint: refresher } } });
    await a.start();
    await b.start();
  });
  test.afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  let ctx: TenantContext;
  test.beforeAll(async ({ postgres: h }) => {
    ctx = await h.tenant();
  });

  test('stores token type and issue time, and records each read with the client IP and user agent', async () => {
    const repo = a.resolve(IntegrationTokenRepository);
    const issuedAt = new Date(Date.now() - 60_000);
    const saved = await repo.save(ctx, {
      integration: 'github',
      accessToken: 'gh-a',
      tokenType: 'Bearer',
      issuedAt,
      expiresAt: new Date(Date.now() + 3_600_000),
    });
    expect(saved).toMatchObject({ tokenType: 'Bearer', lastUsedAt: null });
    expect(saved.issuedAt?.getTime()).toBe(issuedAt.getTime());
    const read = await repo.get(ctx, 'github', { ip: '203.0.113.7', userAgent: 'ProSprint/1.0' });
    expect(read).toMatchObject({ accessToken: 'gh-a', lastUsedIp: '203.0.113.7', lastUsedUserAgent: 'ProSprint/1.0' });
    expect(read.lastUsedAt).toBeInstanceOf(Date);
    await expect(repo.get(ctx, 'github', { ip: 'not-an-ip' })).rejects.toMatchObject({ fields: ['client.ip'] });
  });

  test('indexes the integration per organization', async ({ postgres: h }) => {
    const columns = await h.postgres.ownerPool.oneFirst(sql.type(z.object({ def: z.string() }))`
      SELECT indexdef AS def FROM pg_indexes WHERE indexname = 'integration_tokens_org_integration_idx'`);
    expect(columns).toContain('(organization_id, integration)');
  });

  test('refreshes a token expiring within 5 minutes when read, stores the new tokens encrypted, and leaves a fresh one alone', async ({ postgres: h }) => {
    const repo = a.resolve(IntegrationTokenRepository);
    const saved = await repo.save(ctx, { integration: 'prosprint', accessToken: 'old-access', refreshToken: 'old-refresh', scopes: ['tasks:read'] });
    await expireIn(h, saved.id, '2 minutes');
    // expiringWithin still finds it before the read.
    expect((await repo.expiringWithin(5)).map((t) => t.id)).toContain(saved.id);
    calls.length = 0;
    const read = await repo.get(ctx, 'prosprint');
    expect(calls).toEqual([
      { organizationId: ctx.organizationId, userId: ctx.userId, integration: 'prosprint', refreshToken: 'old-refresh', scopes: ['tasks:read'] },
    ]);
    expect(read).toMatchObject({ accessToken: 'new-access-1', refreshToken: 'new-refresh-1', tokenType: 'Bearer', refreshError: null });
    expect(read.refreshedAt).toBeInstanceOf(Date);
    expect(read.expiresAt!.getTime()).toBeGreaterThan(Date.now() + 50 * 60_000);
    const raw = await h.postgres.ownerPool.one(sql.type(z.object({ a: z.instanceof(Buffer), r: z.instanceof(Buffer) }))`
      SELECT access_token_encrypted AS a, refresh_token_encrypted AS r FROM integration_tokens WHERE id = ${saved.id}`);
    expect(raw.a.toString('latin1')).not.toContain('new-access');
    expect(raw.r.toString('latin1')).not.toContain('new-refresh');
    // Now an hour from expiry: read again without refreshing.
    await repo.get(ctx, 'prosprint');
    expect(calls).toHaveLength(1);
    expect((await repo.expiringWithin(5)).map((t) => t.id)).not.toContain(saved.id);
  });

  test('single-flight: 8 concurrent reads from two processes refresh once and all get the new token', async ({ postgres: h }) => {
    const repo = a.resolve(IntegrationTokenRepository);
    const saved = await repo.save(ctx, { integration: 'prosprint', accessToken: 'old-access', refreshToken: 'old-refresh' });
    await expireIn(h, saved.id, '1 minute');
    calls.length = 0;
    const readers = Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? a : b).resolve(IntegrationTokenRepository).get(ctx, 'prosprint'));
    const results = await Promise.all(readers);
    expect(calls).toHaveLength(1);
    expect(new Set(results.map((r) => r.accessToken))).toEqual(new Set(['new-access-1']));
  });

  test('a failed refresh is recorded on the row and audited; the unexpired token is still returned, an expired one is refused', async ({ postgres: h }) => {
    const repo = a.resolve(IntegrationTokenRepository);
    const saved = await repo.save(ctx, { integration: 'prosprint', accessToken: 'still-valid', refreshToken: 'revoked-refresh' });
    await expireIn(h, saved.id, '2 minutes');
    behaviour = 'fail';
    try {
      const read = await repo.get(ctx, 'prosprint');
      expect(read).toMatchObject({ accessToken: 'still-valid', refreshError: 'provider answered 400 invalid_grant' });
      expect(read.refreshFailedAt).toBeInstanceOf(Date);
      const events = await a.resolve(AuditRepository).query(ctx, { eventTypes: ['integration_token.refresh_failed'] });
      expect(events.items[0]).toMatchObject({
        actorUserId: ctx.userId,
        details: { integration: 'prosprint', tokenId: saved.id, error: 'provider answered 400 invalid_grant' },
      });

      await expireIn(h, saved.id, '-1 minute');
      await expect(repo.get(ctx, 'prosprint')).rejects.toMatchObject({ code: 'INTEGRATION_REFRESH_FAILED' });
      const after = await h.postgres.ownerPool.one(sql.type(z.object({ n: z.number() }))`
        SELECT count(*)::int AS n FROM audit_log WHERE event_type = 'integration_token.refresh_failed' AND organization_id = ${ctx.organizationId}`);
      expect(after.n).toBe(2);
    } finally {
      behaviour = 'ok';
    }
    // The next successful refresh clears the failure.
    const healed = await repo.get(ctx, 'prosprint');
    expect(healed).toMatchObject({ refreshError: null, refreshFailedAt: null });
    expect(healed.accessToken).toMatch(/^new-access-/);
  });
});
