import 'reflect-metadata';
import { sql } from 'slonik';
import { z } from 'zod';
import { describe, expect, vi } from 'vitest';
import { InvalidCredentialsError, TenantAccessError, TokenError } from '../../../src/errors.js';
import { ApiKeyAuthenticator } from '../../../src/flows/auth/api-key-authenticator.js';
import { expectSignedIn } from '../../../src/flows/auth/expect-signed-in.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { ApiKeyRepository } from '../../../src/postgres/repositories/api-key-repository.js';
import { SecuritySettingsRepository, type SecuritySettingsPatch } from '../../../src/postgres/repositories/security-settings-repository.js';
import { SessionRepository } from '../../../src/postgres/repositories/session-repository.js';
import { RedisConnection } from '../../../src/redis/redis-connection.js';
import { RedisKeys } from '../../../src/redis/redis-keys.js';
import { createTenantContext, type TenantContext } from '../../../src/tenancy/tenant-context.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import { type FlowHarness } from '../../support/flow-harness.js';
import { requireStores } from '../../support/require-stores.js';
import { test } from '../../support/fixtures.js';

const inside = { ip: '198.51.100.9', userAgent: 'vitest' };
const outside = { ip: '203.0.113.7', userAgent: 'vitest' };

describe.skipIf(!requireStores('postgres', 'redis'))('organization security settings at sign-in', () => {
  let pg: PostgresConnection;

  test.beforeAll(async ({ flow: h }) => {
    pg = h.platform.resolve(PostgresConnection);
  });
  test.afterEach(() => vi.restoreAllMocks());

  async function userWith(
    h: FlowHarness,
    patch: SecuritySettingsPatch,
  ): Promise<{ email: string; userId: string; organizationId: string; owner: TenantContext }> {
    const u = await h.user();
    const owner = createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner' });
    await h.platform.resolve(SecuritySettingsRepository).update(owner, patch);
    return { ...u, owner };
  }

  describe('IP allow-list', () => {
    test('refuses a login from outside the list after the password, audited at high risk', async ({ flow: h }) => {
      const u = await userWith(h, { ipAllowList: ['198.51.100.0/24', '2001:db8::/32'] });
      // A wrong password from outside still looks like any wrong password.
      await expect(h.signIn.login(u.email, 'Wrong-password-123', outside)).rejects.toBeInstanceOf(InvalidCredentialsError);
      const error = await h.signIn.login(u.email, PASSWORD, outside).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TenantAccessError);
      expect(error).toMatchObject({ permission: 'ip_allow_list' });
      // No address known: cannot prove it is inside, refused.
      await expect(h.signIn.login(u.email, PASSWORD, {})).rejects.toMatchObject({ permission: 'ip_allow_list' });

      const highRisk = await h.auditEvents(u.owner, 70);
      const refused = highRisk.filter((e) => e.eventType === 'auth.ip_not_allowed');
      expect(refused).toHaveLength(2);
      expect(refused.find((e) => e.ip === outside.ip)).toMatchObject({ actorUserId: u.userId, riskScore: 80, details: { via: 'login' } });

      expect(expectSignedIn(await h.signIn.login(u.email, PASSWORD, inside)).organization.id).toBe(u.organizationId);
      expect((await h.signIn.login(u.email, PASSWORD, { ip: '2001:db8:1::5' })).status).toBe('signed_in');
      // A dual-stack socket's IPv4-mapped form is the IPv4 address.
      expect((await h.signIn.login(u.email, PASSWORD, { ip: '::ffff:198.51.100.20' })).status).toBe('signed_in');
    });

    test('refuses an API key presented from outside the list when the caller passes its IP', async ({ flow: h }) => {
      const u = await userWith(h, { ipAllowList: ['198.51.100.0/24'] });
      const { key, apiKey } = await h.platform.resolve(ApiKeyRepository).create(u.owner, { name: 'ci' });
      const authenticator = h.platform.resolve(ApiKeyAuthenticator);
      await expect(authenticator.authenticate(key, { ip: outside.ip })).rejects.toMatchObject({ permission: 'ip_allow_list' });
      await expect(authenticator.authenticate(key, { ip: inside.ip })).resolves.toMatchObject({ apiKey: { id: apiKey.id } });
      // Without an address the transport did not know it: unchanged behaviour.
      await expect(authenticator.authenticate(key)).resolves.toBeDefined();
      await expect(authenticator.authenticate(key, { ip: 'nope' })).rejects.toMatchObject({ fields: ['client.ip'] });
      const refused = (await h.auditEvents(u.owner, 70)).filter((e) => e.eventType === 'auth.ip_not_allowed');
      expect(refused).toHaveLength(1);
      expect(refused[0]).toMatchObject({ ip: outside.ip, details: { via: 'api_key', apiKeyId: apiKey.id } });
    });
  });

  describe('session timeouts', () => {
    test('caps the session expiry at the absolute timeout', async ({ flow: h }) => {
      const u = await userWith(h, { sessionTimeoutMinutes: 5, inactivityTimeoutMinutes: 5 });
      const s = expectSignedIn(await h.signIn.login(u.email, PASSWORD, inside));
      const remaining = s.expiresAt.getTime() - Date.now();
      expect(remaining).toBeGreaterThan(4 * 60_000);
      expect(remaining).toBeLessThanOrEqual(5 * 60_000 + 1000);
      const row = await h.platform.resolve(SessionRepository).get(s.sessionId);
      expect(row?.expiresAt.getTime()).toBe(s.expiresAt.getTime());
    });

    test('keeps the inactivity deadline in the cached record and rejects an idle session in validate', async ({ flow: h }) => {
      const u = await userWith(h, { inactivityTimeoutMinutes: 1 });
      const s = expectSignedIn(await h.signIn.login(u.email, PASSWORD, inside));
      const hit = await h.validator.validate({ userId: u.userId, sessionId: s.sessionId });
      expect(hit.source).toBe('cache');
      // The record ends at the inactivity deadline, long before the absolute expiry.
      expect(hit.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(60_000);
      expect(s.expiresAt.getTime() - hit.expiresAt.getTime()).toBeGreaterThan(60 * 60_000);

      // Two idle minutes in Postgres, and the cached record gone (its TTL is the deadline): Postgres decides.
      await pg.ownerPool.query(sql.unsafe`UPDATE sessions SET last_seen_at = now() - interval '2 minutes' WHERE id = ${s.sessionId}`);
      const keys = h.platform.resolve(RedisKeys);
      await h.platform.resolve(RedisConnection).client.del(keys.sessionRecord(u.userId, s.sessionId), keys.sessionAccessToken(u.userId, s.accessTokenJti));
      const error = await h.validator.validate({ userId: u.userId, sessionId: s.sessionId }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TokenError);
      expect(error).toMatchObject({ reason: 'expired' });
      await expect(h.validator.validate({ userId: u.userId, jti: s.accessTokenJti })).rejects.toMatchObject({ reason: 'expired' });
      // Nor can its refresh token revive it.
      await expect(h.rotation.refresh(s.refreshToken)).rejects.toMatchObject({ reason: 'expired' });
      // Issue 16: the refusal is decided inside the rotation's transaction, so it spends nothing (it used to
      // rotate, commit, then answer `expired` — a later retry of the same token was a reuse verdict).
      const spent = await pg.ownerPool.oneFirst(sql.type(z.object({ n: z.number() }))`
        SELECT count(*)::int AS n FROM refresh_tokens WHERE session_id = ${s.sessionId} AND (rotated_at IS NOT NULL OR revoked_at IS NOT NULL)`);
      expect(spent).toBe(0);
      await expect(h.rotation.refresh(s.refreshToken)).rejects.toMatchObject({ reason: 'expired' });
    });

    test('a miss repopulates with a deadline from now and records the activity', async ({ flow: h }) => {
      const u = await userWith(h, { inactivityTimeoutMinutes: 10 });
      const s = expectSignedIn(await h.signIn.login(u.email, PASSWORD, inside));
      await pg.ownerPool.query(sql.unsafe`UPDATE sessions SET last_seen_at = now() - interval '5 minutes' WHERE id = ${s.sessionId}`);
      const keys = h.platform.resolve(RedisKeys);
      await h.platform.resolve(RedisConnection).client.del(keys.sessionRecord(u.userId, s.sessionId));
      const fromPg = await h.validator.validate({ userId: u.userId, sessionId: s.sessionId });
      expect(fromPg.source).toBe('postgres');
      expect(fromPg.expiresAt.getTime() - Date.now()).toBeGreaterThan(9 * 60_000);
      await vi.waitFor(async () => {
        const row = await h.platform.resolve(SessionRepository).get(s.sessionId);
        expect(Date.now() - (row?.lastSeenAt.getTime() ?? 0)).toBeLessThan(30_000);
      });
      const cached = await h.validator.validate({ userId: u.userId, sessionId: s.sessionId });
      expect(cached.source).toBe('cache');
      expect(Math.abs(cached.expiresAt.getTime() - fromPg.expiresAt.getTime())).toBeLessThan(1000);
    });

    test('slides the cached deadline on activity, at most once a minute', async ({ flow: h }) => {
      const u = await userWith(h, { inactivityTimeoutMinutes: 2 });
      const s = expectSignedIn(await h.signIn.login(u.email, PASSWORD, inside));
      const first = await h.validator.validate({ userId: u.userId, sessionId: s.sessionId });
      // 90 s later (by this process's clock; Redis still says the record is live): one request slides the deadline.
      const realNow = Date.now.bind(Date);
      vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 90_000);
      await h.validator.validate({ userId: u.userId, sessionId: s.sessionId });
      await vi.waitFor(async () => {
        const after = await h.validator.validate({ userId: u.userId, sessionId: s.sessionId });
        expect(after.expiresAt.getTime() - first.expiresAt.getTime()).toBeGreaterThan(80_000);
      });
    });
  });
});
