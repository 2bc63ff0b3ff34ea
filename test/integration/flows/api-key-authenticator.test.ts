import 'reflect-metadata';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { RateLimitedError, TokenError } from '../../../src/errors.js';
import { ApiKeyAuthenticator } from '../../../src/flows/auth/api-key-authenticator.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { ApiKeyRepository } from '../../../src/postgres/repositories/api-key-repository.js';
import { authorize } from '../../../src/tenancy/permission-policy.js';
import { createTenantContext, type TenantContext } from '../../../src/tenancy/tenant-context.js';
import { requireStores } from '../../support/require-stores.js';
import { test } from '../../support/fixtures.js';

describe.skipIf(!requireStores('postgres', 'redis'))('ApiKeyAuthenticator', () => {
  let authenticator: ApiKeyAuthenticator;
  let keys: ApiKeyRepository;
  let owner: TenantContext;

  test.beforeAll(async ({ flow: h }) => {
    authenticator = h.platform.resolve(ApiKeyAuthenticator);
    keys = h.platform.resolve(ApiKeyRepository);
    const u = await h.user();
    owner = createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner' });
  });

  test("returns a tenant context with the key scopes under the creator's current role", async () => {
    const { key, apiKey } = await keys.create(owner, { name: 'ci', scopes: ['knowledge:read', 'knowledge:write'] });
    const auth = await authenticator.authenticate(key);
    expect(auth.context).toMatchObject({
      organizationId: owner.organizationId,
      userId: owner.userId,
      role: 'owner',
      scopes: ['knowledge:read', 'knowledge:write'],
    });
    expect(auth.context.actor).toEqual({ kind: 'apiKey', keyId: apiKey.id, creatorUserId: owner.userId, scopes: ['knowledge:read', 'knowledge:write'] });
    expect(auth.apiKey.id).toBe(apiKey.id);
    expect(() => authorize(auth.context, 'knowledge:write')).not.toThrow();
    // Scopes narrow: an owner's key still cannot manage members.
    expect(() => authorize(auth.context, 'members:manage')).toThrow();
  });

  test('refuses wrong secrets, unknown prefixes, malformed, revoked and expired keys without echoing them', async ({ flow: h }) => {
    const { key, apiKey } = await keys.create(owner, { name: 'k' });
    const wrong = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
    const errors = await Promise.all(
      [wrong, `pd_${'0'.repeat(16)}_${'A'.repeat(43)}`, 'garbage'].map((k) => authenticator.authenticate(k).catch((e: unknown) => e)),
    );
    for (const e of errors) {
      expect(e).toBeInstanceOf(TokenError);
      expect(e).toMatchObject({ reason: 'invalid' });
      expect((e as Error).message).not.toContain(key.slice(20));
    }
    await expect(authenticator.authenticate('')).rejects.toMatchObject({ fields: ['key'] });
    await keys.revoke(owner, apiKey.id);
    await expect(authenticator.authenticate(key)).rejects.toMatchObject({ reason: 'revoked' });
    const expiring = await keys.create(owner, { name: 'soon', expiresAt: new Date(Date.now() + 60_000) });
    await h.platform
      .resolve(PostgresConnection)
      .ownerPool.query(sql.unsafe`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = ${expiring.apiKey.id}`);
    await expect(authenticator.authenticate(expiring.key)).rejects.toMatchObject({ reason: 'expired' });
  });

  test('applies the key own rate limit exactly under concurrency (per minute + burst)', async () => {
    const { key } = await keys.create(owner, { name: 'limited', rateLimitPerMinute: 20, rateLimitBurst: 5 });
    const results = await Promise.allSettled(Array.from({ length: 80 }, () => authenticator.authenticate(key)));
    const allowed = results.filter((r) => r.status === 'fulfilled');
    const denied = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(allowed).toHaveLength(25);
    expect(denied).toHaveLength(55);
    for (const d of denied) {
      expect(d.reason).toBeInstanceOf(RateLimitedError);
      expect((d.reason as RateLimitedError).retryAfterMs).toBeGreaterThan(0);
      expect((d.reason as RateLimitedError).retryAfterMs).toBeLessThanOrEqual(60_000);
      expect((d.reason as RateLimitedError).limit).toBe(25);
    }
    // Another key of the same organization has its own budget.
    const other = await keys.create(owner, { name: 'other', rateLimitPerMinute: 1 });
    expect((await authenticator.authenticate(other.key)).rateLimit).toMatchObject({ allowed: true, remaining: 0, limit: 1 });
    await expect(authenticator.authenticate(other.key)).rejects.toBeInstanceOf(RateLimitedError);
  });
});
