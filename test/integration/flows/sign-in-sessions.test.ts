import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { AccountStateError, InvalidCredentialsError, RateLimitedError, TokenError, ValidationError } from '../../../src/errors.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { UserRepository } from '../../../src/postgres/repositories/user-repository.js';
import { LoginThrottle } from '../../../src/redis/repositories/login-throttle.js';
import { RedisConnection } from '../../../src/redis/redis-connection.js';
import { RedisKeys } from '../../../src/redis/redis-keys.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import { sleep } from '../../support/sleep.js';
import { expectSignedIn } from '../../../src/flows/auth/expect-signed-in.js';
import { requireStores } from '../../support/require-stores.js';
import { test } from '../../support/fixtures.js';

const client = { ip: '203.0.113.7', userAgent: 'vitest', deviceId: 'device-1' };

describe.skipIf(!requireStores('postgres', 'redis'))('PasswordSignIn, SessionValidator, RefreshRotation, SessionRevoker', () => {
  let pg: PostgresConnection;

  test.beforeAll(async ({ flow: h }) => {
    pg = h.platform.resolve(PostgresConnection);
  });

  describe('login', () => {
    test('creates a Postgres session, a refresh token and a cache entry, and audits it', async ({ flow: h }) => {
      const u = await h.user();
      const result = expectSignedIn(await h.signIn.login(u.email.toUpperCase(), PASSWORD, client));
      expect(result).toMatchObject({ user: { id: u.userId }, organization: { id: u.organizationId, role: 'owner' } });
      expect(result.organizations.map((o) => o.id)).toEqual([u.organizationId]);
      expect(result.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(result.expiresAt.getTime()).toBeGreaterThan(Date.now());
      const first = await h.validator.validate({ userId: u.userId, sessionId: result.sessionId });
      expect(first).toMatchObject({ source: 'cache', organizationId: u.organizationId, context: { role: 'owner', userId: u.userId } });
      expect((await h.validator.validate({ userId: u.userId, jti: result.accessTokenJti })).sessionId).toBe(result.sessionId);
      // Only the hash of the refresh token is stored.
      const dump = await pg.ownerPool.oneFirst(sql.type(z.object({ t: z.string() }))`
        SELECT string_agg(row_to_json(r)::text, '') AS t FROM refresh_tokens r WHERE session_id = ${result.sessionId}`);
      expect(dump).not.toContain(result.refreshToken);
      const events = await h.auditEvents(result.context);
      expect(events.find((e) => e.eventType === 'auth.login.succeeded')).toMatchObject({ actorUserId: u.userId, ip: client.ip });
    });

    test('gives unknown email and wrong password the same error class and message', async ({ flow: h }) => {
      const u = await h.user();
      const unknown = await h.signIn.login(`nobody-${randomUUID().slice(0, 6)}@example.test`, PASSWORD, client).catch((e: unknown) => e);
      const wrong = await h.signIn.login(u.email, `${PASSWORD}x`, client).catch((e: unknown) => e);
      expect(unknown).toBeInstanceOf(InvalidCredentialsError);
      expect(wrong).toBeInstanceOf(InvalidCredentialsError);
      expect((unknown as Error).message).toBe((wrong as Error).message);
      expect((wrong as Error).message).not.toContain(PASSWORD);
    });

    test('validates input naming the field, without echoing the password', async ({ flow: h }) => {
      // Neither an email nor a username (`not-an-email` would be a well-formed username).
      const error = await h.signIn.login('not an email', 'secret-pw', client).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).fields).toEqual(['identifier']);
      expect((error as Error).message).not.toContain('secret-pw');
      await expect(h.signIn.login('a@example.test', 'x', { ip: 'not-an-ip' })).rejects.toMatchObject({ fields: ['context.ip'] });
    });

    test('tells the account state only after a correct password', async ({ flow: h }) => {
      const pending = await h.user({ verified: false });
      await expect(h.signIn.login(pending.email, 'Wrong-password-123', client)).rejects.toBeInstanceOf(InvalidCredentialsError);
      await expect(h.signIn.login(pending.email, PASSWORD, client)).rejects.toMatchObject({ state: 'pending_verification' });
      const suspended = await h.user();
      await h.revoker.suspendUser(suspended.userId, 'test');
      await expect(h.signIn.login(suspended.email, PASSWORD, client)).rejects.toMatchObject({ state: 'suspended' });
      const mustChange = await h.user();
      await pg.ownerPool.query(sql.unsafe`UPDATE users SET must_change_password = true WHERE id = ${mustChange.userId}`);
      // A required change answers with a ticket and no session (test/integration/flows/required-password-change.test.ts).
      await expect(h.signIn.login(mustChange.email, PASSWORD, client)).resolves.toMatchObject({ status: 'password_change_required', reason: 'must_change' });
    });

    test('rehashes a password whose bcrypt cost differs from the configured one', async ({ flow: h }) => {
      const u = await h.user();
      const { default: bcrypt } = await import('bcrypt');
      const oldHash = await bcrypt.hash(PASSWORD, 5);
      await pg.ownerPool.query(sql.unsafe`UPDATE users SET password_hash = ${oldHash} WHERE id = ${u.userId}`);
      expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
      const stored = await pg.ownerPool.oneFirst(sql.type(z.object({ h: z.string() }))`SELECT password_hash AS h FROM users WHERE id = ${u.userId}`);
      expect(stored).toMatch(/^\$2b\$04\$/);
    });

    test('locks at exactly the threshold under concurrency', async ({ flow: h }) => {
      const threshold = h.platform.config.auth.lockoutThreshold;
      const users = h.platform.resolve(UserRepository);

      const below = await h.user();
      const belowResults = await Promise.allSettled(Array.from({ length: threshold - 1 }, () => h.signIn.login(below.email, 'Wrong-password-123', client)));
      expect(belowResults.every((r) => r.status === 'rejected' && r.reason instanceof InvalidCredentialsError)).toBe(true);
      expect(await users.getById(below.userId)).toMatchObject({ failedLoginCount: threshold - 1, lockedUntil: null });
      expectSignedIn(await h.signIn.login(below.email, PASSWORD, client));
      expect((await users.getById(below.userId))?.failedLoginCount).toBe(0);

      const at = await h.user();
      await Promise.allSettled(Array.from({ length: threshold }, () => h.signIn.login(at.email, 'Wrong-password-123', { ...client, ip: '198.51.100.1' })));
      const locked = await users.getById(at.userId);
      expect(locked?.failedLoginCount).toBe(threshold);
      expect(locked?.lockedUntil?.getTime()).toBeGreaterThan(Date.now());
      // Redis refuses first; with the throttle cleared, Postgres still refuses — like a wrong password (no oracle).
      await expect(h.signIn.login(at.email, PASSWORD, client)).rejects.toBeInstanceOf(RateLimitedError);
      await h.platform.resolve(LoginThrottle).reset({ email: at.email });
      await expect(h.signIn.login(at.email, PASSWORD, client)).rejects.toBeInstanceOf(InvalidCredentialsError);
      await h.platform.resolve(LoginThrottle).reset({ email: at.email });
      await expect(h.signIn.login(at.email, 'Wrong-password-123', client)).rejects.toBeInstanceOf(InvalidCredentialsError);

      const burst = await h.user();
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, () => h.signIn.login(burst.email, 'Wrong-password-123', { ...client, ip: '198.51.100.2' })),
      );
      for (const r of results) {
        expect(r.status).toBe('rejected');
        if (r.status === 'rejected') expect(r.reason instanceof InvalidCredentialsError || r.reason instanceof RateLimitedError).toBe(true);
      }
      const burstUser = await users.getById(burst.userId);
      expect(burstUser?.lockedUntil?.getTime()).toBeGreaterThan(Date.now());
      expect(burstUser?.failedLoginCount).toBeGreaterThanOrEqual(threshold);
    });

    test('scores a new IP and device higher than a known one', async ({ flow: h }) => {
      const u = await h.user();
      const first = expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
      expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
      expectSignedIn(await h.signIn.login(u.email, PASSWORD, { ip: '192.0.2.99', userAgent: 'other', deviceId: 'device-new' }));
      const events = (await h.auditEvents(first.context)).filter((e) => e.eventType === 'auth.login.succeeded');
      const known = events.find((e) => e.ip === client.ip && e.details.newIp === false);
      const fresh = events.find((e) => e.ip === '192.0.2.99');
      expect(known?.riskScore).toBe(0);
      expect(fresh?.riskScore).toBe(50);
    });
  });

  describe('refresh', () => {
    test('rotates; 100 concurrent refreshes of one token continue exactly one lineage', async ({ flow: h }) => {
      const u = await h.user();
      const s = expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
      const results = await Promise.all(Array.from({ length: 100 }, () => h.rotation.refresh(s.refreshToken, client)));
      expect(new Set(results.map((r) => r.refreshToken)).size).toBe(1);
      expect(results.filter((r) => !r.replayed)).toHaveLength(1);
      expect(results[0]).toMatchObject({ sessionId: s.sessionId, accessTokenJti: s.accessTokenJti, userId: u.userId });
      const count = await pg.ownerPool.oneFirst(sql.type(z.object({ n: z.number() }))`
        SELECT count(*)::int AS n FROM refresh_tokens WHERE session_id = ${s.sessionId}`);
      expect(count).toBe(2);
      const next = await h.rotation.refresh(results[0]!.refreshToken, client);
      expect(next.refreshToken).not.toBe(results[0]!.refreshToken);
    });

    test('revokes family and session on reuse outside the grace window, with a high-risk audit event', async ({ flow: h }) => {
      const u = await h.user();
      const s = expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
      const rotated = await h.rotation.refresh(s.refreshToken, client);
      expect((await h.validator.validate({ userId: u.userId, sessionId: s.sessionId })).source).toBe('cache');
      await pg.ownerPool.query(
        sql.unsafe`UPDATE refresh_tokens SET rotated_at = now() - interval '1 hour' WHERE session_id = ${s.sessionId} AND rotated_at IS NOT NULL`,
      );

      const reuse = await h.rotation.refresh(s.refreshToken, { ip: '192.0.2.66' }).catch((e: unknown) => e);
      expect(reuse).toBeInstanceOf(TokenError);
      expect(reuse).toMatchObject({ reason: 'reused', code: 'TOKEN_REUSED' });
      await expect(h.rotation.refresh(rotated.refreshToken, client)).rejects.toMatchObject({ reason: 'revoked', code: 'TOKEN_REVOKED' });
      await expect(h.validator.validate({ userId: u.userId, sessionId: s.sessionId })).rejects.toMatchObject({ reason: 'revoked' });
      await expect(h.validator.validate({ userId: u.userId, jti: s.accessTokenJti })).rejects.toMatchObject({ reason: 'revoked' });
      const active = await pg.ownerPool.oneFirst(sql.type(z.object({ n: z.number() }))`
        SELECT count(*)::int AS n FROM refresh_tokens WHERE session_id = ${s.sessionId} AND revoked_at IS NULL`);
      expect(active).toBe(0);
      const events = await h.auditEvents(s.context, 90);
      expect(events.find((e) => e.eventType === 'auth.refresh.reuse_detected')).toMatchObject({
        actorUserId: u.userId,
        ip: '192.0.2.66',
        details: { sessionId: s.sessionId },
      });
    });

    test('refuses unknown tokens and names the field for malformed ones', async ({ flow: h }) => {
      await expect(h.rotation.refresh('x'.repeat(43))).rejects.toMatchObject({ reason: 'invalid' });
      await expect(h.rotation.refresh('')).rejects.toMatchObject({ fields: ['refreshToken'] });
    });
  });

  describe('validate and revoke', () => {
    test('repopulates from Postgres on a miss and rejects revoked, foreign and unknown sessions', async ({ flow: h }) => {
      const u = await h.user();
      const s = expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
      const keys = h.platform.resolve(RedisKeys);
      await h.platform.resolve(RedisConnection).client.del(keys.sessionRecord(u.userId, s.sessionId));
      expect((await h.validator.validate({ userId: u.userId, sessionId: s.sessionId })).source).toBe('postgres');
      expect((await h.validator.validate({ userId: u.userId, sessionId: s.sessionId })).source).toBe('cache');
      await expect(h.validator.validate({ userId: randomUUID(), sessionId: s.sessionId })).rejects.toMatchObject({ reason: 'invalid' });
      await expect(h.validator.validate({ userId: u.userId, sessionId: randomUUID() })).rejects.toMatchObject({ reason: 'invalid' });
      await expect(h.validator.validate({ userId: u.userId, sessionId: s.sessionId, jti: 'other-jti' })).rejects.toMatchObject({ reason: 'invalid' });
      await expect(h.validator.validate({ userId: 'nope', sessionId: s.sessionId })).rejects.toMatchObject({ fields: ['userId'] });
      expect(await h.revoker.logout(s.sessionId)).toBe(true);
      await expect(h.validator.validate({ userId: u.userId, sessionId: s.sessionId })).rejects.toMatchObject({ reason: 'revoked' });
      await expect(h.rotation.refresh(s.refreshToken)).rejects.toMatchObject({ reason: 'revoked' });
    });

    for (const cache of ['warm', 'cold'] as const) {
      test(`never accepts a session after its revoke returned, with 50 validations racing (${cache} cache)`, async ({ flow: h }) => {
        const u = await h.user();
        const s = expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
        if (cache === 'cold') await h.platform.resolve(RedisConnection).client.del(h.platform.resolve(RedisKeys).sessionRecord(u.userId, s.sessionId));
        let revokeReturned = false;
        const outcomes: Array<{ startedAfterRevoke: boolean; accepted: boolean }> = [];
        // 50 concurrent validators, each validating in a loop until it has validated twice after the revoke returned.
        const validations = Array.from({ length: 50 }, async (_, i) => {
          await sleep(i % 10);
          let afterCount = 0;
          while (afterCount < 2) {
            const startedAfterRevoke = revokeReturned;
            const accepted = await h.validator.validate({ userId: u.userId, sessionId: s.sessionId }).then(
              () => true,
              (e: unknown) => {
                if (e instanceof TokenError) return false;
                throw e;
              },
            );
            outcomes.push({ startedAfterRevoke, accepted });
            if (startedAfterRevoke) afterCount += 1;
          }
        });
        const revoke = (async () => {
          // Revoke while validations are in flight, once at least one was accepted (cold: repopulated from Postgres).
          while (!outcomes.some((o) => o.accepted)) await sleep(1);
          await h.revoker.revokeSession(s.sessionId, 'race test');
          revokeReturned = true;
        })();
        await Promise.all([...validations, revoke]);
        expect(outcomes.filter((o) => o.startedAfterRevoke && o.accepted)).toEqual([]);
        expect(outcomes.filter((o) => o.startedAfterRevoke).length).toBeGreaterThanOrEqual(100);
        // The race really raced: some validations before the revoke were accepted.
        expect(outcomes.some((o) => !o.startedAfterRevoke && o.accepted)).toBe(true);
        for (let i = 0; i < 5; i++) await expect(h.validator.validate({ userId: u.userId, sessionId: s.sessionId })).rejects.toBeInstanceOf(TokenError);
      });
    }

    test('logoutEverywhere revokes every session of the user, also while validations race', async ({ flow: h }) => {
      const u = await h.user();
      const sessions = (await Promise.all([1, 2, 3].map((d) => h.signIn.login(u.email, PASSWORD, { ...client, deviceId: `d${d}` })))).map(expectSignedIn);
      let returned = false;
      const late: boolean[] = [];
      const racing = Array.from({ length: 30 }, async (_, i) => {
        await sleep(i % 15);
        const after = returned;
        const s = sessions[i % 3]!;
        const ok = await h.validator.validate({ userId: u.userId, sessionId: s.sessionId }).then(
          () => true,
          () => false,
        );
        if (after) late.push(ok);
      });
      const revokeAll = (async () => {
        await sleep(5);
        expect(await h.revoker.logoutEverywhere(u.userId)).toBe(3);
        returned = true;
      })();
      await Promise.all([...racing, revokeAll]);
      expect(late.filter(Boolean)).toEqual([]);
      for (const s of sessions) {
        await expect(h.validator.validate({ userId: u.userId, sessionId: s.sessionId })).rejects.toMatchObject({ reason: 'revoked' });
        await expect(h.validator.validate({ userId: u.userId, jti: s.accessTokenJti })).rejects.toMatchObject({ reason: 'revoked' });
      }
      // A new login after logout everywhere works and is cached.
      const fresh = expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
      expect((await h.validator.validate({ userId: u.userId, sessionId: fresh.sessionId })).source).toBe('cache');
    });

    test('suspendUser sets the status and revokes all sessions at once', async ({ flow: h }) => {
      const u = await h.user();
      const s = expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
      expect(await h.revoker.suspendUser(u.userId, 'abuse report')).toBe(1);
      expect((await h.platform.resolve(UserRepository).getById(u.userId))?.status).toBe('suspended');
      await expect(h.validator.validate({ userId: u.userId, sessionId: s.sessionId })).rejects.toMatchObject({ reason: 'revoked' });
      await expect(h.rotation.refresh(s.refreshToken)).rejects.toBeInstanceOf(TokenError);
      const error = await h.signIn.login(u.email, PASSWORD, client).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AccountStateError);
    });
  });
});
