import { randomUUID } from 'node:crypto';
import { describe, expect } from 'vitest';
import { test } from '../../support/fixtures.js';
import { createPlatform, type Platform } from '../../../src/platform.js';
import { RedisConnection } from '../../../src/redis/redis-connection.js';
import { RedisKeys } from '../../../src/redis/redis-keys.js';
import { SessionCache, type CachedSessionInput } from '../../../src/redis/repositories/session-cache.js';

let platform: Platform;
let other: Platform;
let sessions: SessionCache;

test.beforeAll(async ({ testEnv: env }) => {
  platform = createPlatform(env.config, { stores: ['redis'] });
  other = createPlatform(env.config, { stores: ['redis'] });
  await Promise.all([platform.start(), other.start()]);
  sessions = platform.resolve(SessionCache);
});
test.afterAll(async () => {
  await platform?.stop();
  await other?.stop();
});

async function cachedSession(userId: string = randomUUID(), overrides: Partial<CachedSessionInput> = {}): Promise<CachedSessionInput> {
  const record: CachedSessionInput = {
    sessionId: randomUUID(),
    userId,
    organizationId: 'org-1',
    expiresAt: Date.now() + 3_600_000,
    revocationEpoch: await sessions.readEpoch(userId),
    roles: ['member'],
    ...overrides,
  };
  return record;
}

describe('SessionCache', () => {
  test('validates hit / miss by session id and by jti, with a TTL of the remaining life', async () => {
    const record = await cachedSession();
    expect(await sessions.validate({ userId: record.userId, sessionId: record.sessionId })).toEqual({ status: 'miss', epoch: record.revocationEpoch });
    const jti = randomUUID();
    expect(await sessions.put(record, { jti, expiresAt: Date.now() + 60_000 })).toBe('stored');
    const hit = await sessions.validate({ userId: record.userId, sessionId: record.sessionId });
    expect(hit).toMatchObject({ status: 'hit', session: { sessionId: record.sessionId, roles: ['member'], mfaVerified: false } });
    expect(await sessions.validate({ userId: record.userId, jti })).toMatchObject({ status: 'hit', session: { sessionId: record.sessionId } });
    expect(await sessions.validate({ userId: record.userId, jti: randomUUID() })).toEqual({ status: 'miss', epoch: record.revocationEpoch });
    const keys = platform.resolve(RedisKeys);
    const client = platform.resolve(RedisConnection).client;
    const pttl = await client.pttl(keys.sessionRecord(record.userId, record.sessionId));
    expect(pttl).toBeGreaterThan(3_500_000);
    expect(pttl).toBeLessThanOrEqual(3_600_000);
    expect(await client.pttl(keys.sessionAccessToken(record.userId, jti))).toBeLessThanOrEqual(60_000);
  });

  test('by session id and jti, answers a hit only when the jti points to that session', async () => {
    // The access token proves which session it belongs to through its pointer (SessionCache.validate's contract).
    const record = await cachedSession();
    const jti = randomUUID();
    await sessions.put(record, { jti, expiresAt: Date.now() + 60_000 });
    expect(await sessions.validate({ userId: record.userId, sessionId: record.sessionId, jti })).toMatchObject({ status: 'hit' });
    const otherJti = randomUUID();
    expect(await sessions.validate({ userId: record.userId, sessionId: record.sessionId, jti: otherJti })).toEqual({
      status: 'miss',
      epoch: record.revocationEpoch,
    });
    const other = await cachedSession(record.userId);
    await sessions.put(other, { jti: otherJti, expiresAt: Date.now() + 60_000 });
    expect((await sessions.validate({ userId: record.userId, sessionId: record.sessionId, jti: otherJti })).status).toBe('miss');
    expect(await sessions.validate({ userId: record.userId, sessionId: other.sessionId, jti: otherJti })).toMatchObject({ status: 'hit' });
  });

  test('reports an expired record as revoked (expired), never as a hit', async () => {
    const record = await cachedSession(undefined, { expiresAt: Date.now() + 300 });
    await sessions.put(record);
    await new Promise((r) => setTimeout(r, 320));
    const result = await sessions.validate({ userId: record.userId, sessionId: record.sessionId });
    expect(result.status).not.toBe('hit');
  });

  test('revokeSession: marker and jti denylist; a racing put cannot resurrect it', async () => {
    const record = await cachedSession();
    const jti = randomUUID();
    await sessions.put(record, { jti, expiresAt: Date.now() + 60_000 });
    await sessions.revokeSession({
      userId: record.userId,
      sessionId: record.sessionId,
      sessionExpiresAt: record.expiresAt,
      accessToken: { jti, expiresAt: Date.now() + 60_000 },
    });
    expect(await sessions.validate({ userId: record.userId, sessionId: record.sessionId })).toEqual({ status: 'revoked', reason: 'revoked' });
    expect(await sessions.validate({ userId: record.userId, sessionId: record.sessionId, jti })).toEqual({ status: 'revoked', reason: 'denylisted' });
    expect(await sessions.validate({ userId: record.userId, jti })).toEqual({ status: 'revoked', reason: 'denylisted' });
    // A loader that read Postgres before the revoke lands its put afterwards:
    expect(await sessions.put(record)).toBe('revoked');
    expect((await sessions.validate({ userId: record.userId, sessionId: record.sessionId })).status).toBe('revoked');
  });

  test('no validation that starts after revokeSession returns is accepted (50 racing validations)', async () => {
    const record = await cachedSession();
    const jti = randomUUID();
    await sessions.put(record, { jti, expiresAt: Date.now() + 60_000 });
    const racer = other.resolve(SessionCache);
    let revokedAt = Number.POSITIVE_INFINITY;
    const observations: Array<{ startedAt: number; status: string }> = [];
    const validations = Array.from({ length: 50 }, async (_, i) => {
      await new Promise((r) => setTimeout(r, i % 10));
      const startedAt = performance.now();
      const result = await (i % 2 ? racer : sessions).validate({ userId: record.userId, sessionId: record.sessionId, jti });
      observations.push({ startedAt, status: result.status });
    });
    await new Promise((r) => setTimeout(r, 4));
    await sessions.revokeSession({ userId: record.userId, sessionId: record.sessionId, accessToken: { jti, expiresAt: Date.now() + 60_000 } });
    revokedAt = performance.now();
    const after = Array.from({ length: 50 }, (_, i) => (i % 2 ? racer : sessions).validate({ userId: record.userId, sessionId: record.sessionId }));
    await Promise.all(validations);
    const afterResults = await Promise.all(after);
    expect(afterResults.every((r) => r.status === 'revoked')).toBe(true);
    expect(observations).toHaveLength(50);
    expect(observations.filter((o) => o.startedAt > revokedAt && o.status === 'hit')).toEqual([]);
  });

  test('revokeAllForUser revokes every session of the user at once, and stale loads are refused', async () => {
    const userId = randomUUID();
    const a = await cachedSession(userId);
    const b = await cachedSession(userId);
    const bystander = await cachedSession();
    const staleLoad = await cachedSession(userId); // epoch read before the revoke, put after it
    await Promise.all([sessions.put(a), sessions.put(b), sessions.put(bystander)]);
    const epoch = await sessions.revokeAllForUser(userId);
    expect(epoch).toBeGreaterThan(staleLoad.revocationEpoch);
    expect(await sessions.readEpoch(userId)).toBe(epoch);
    for (const s of [a, b]) expect((await sessions.validate({ userId, sessionId: s.sessionId })).status).toBe('revoked');
    expect((await sessions.validate({ userId: bystander.userId, sessionId: bystander.sessionId })).status).toBe('hit');
    expect(await sessions.put(staleLoad)).toBe('stale');
    // Even if a stale record were written directly, its epoch is below the user's.
    const keys = platform.resolve(RedisKeys);
    await platform
      .resolve(RedisConnection)
      .client.set(keys.sessionRecord(userId, staleLoad.sessionId), JSON.stringify({ ...staleLoad, roles: [], scopes: [], mfaVerified: false }), 'PX', 60_000);
    expect(await sessions.validate({ userId, sessionId: staleLoad.sessionId })).toEqual({ status: 'revoked', reason: 'epoch' });
    // A fresh login after the revoke reads the new epoch and works.
    const fresh = await cachedSession(userId);
    expect(await sessions.put(fresh)).toBe('stored');
    expect((await sessions.validate({ userId, sessionId: fresh.sessionId })).status).toBe('hit');
    // The epoch stays monotonic.
    expect(await sessions.revokeAllForUser(userId)).toBeGreaterThan(epoch);
  });

  test('a miss carries the epoch readEpoch answers at that moment, also after a revoke-all and by jti', async () => {
    // The contract a loader relies on (put's observedEpoch must be read before Postgres): the miss's epoch is
    // read inside the same script, so it equals what readEpoch() would have answered right then.
    const record = await cachedSession();
    const before = await sessions.validate({ userId: record.userId, sessionId: record.sessionId });
    expect(before).toEqual({ status: 'miss', epoch: await sessions.readEpoch(record.userId) });
    const epoch = await sessions.revokeAllForUser(record.userId);
    expect(epoch).toBeGreaterThan(0);
    expect(await sessions.validate({ userId: record.userId, sessionId: record.sessionId })).toEqual({ status: 'miss', epoch });
    expect(await sessions.validate({ userId: record.userId, jti: randomUUID() })).toEqual({ status: 'miss', epoch });
    expect(await sessions.readEpoch(record.userId)).toBe(epoch);
    // A put with the miss's epoch is stored; with the epoch before the revoke-all it is refused as stale.
    expect(await sessions.put({ ...record, revocationEpoch: epoch - 1 })).toBe('stale');
    expect(await sessions.put({ ...record, revocationEpoch: epoch })).toBe('stored');
  });

  test('treats an undecodable record as a miss and keeps no token values', async () => {
    const record = await cachedSession();
    const keys = platform.resolve(RedisKeys);
    const client = platform.resolve(RedisConnection).client;
    await client.set(keys.sessionRecord(record.userId, record.sessionId), 'not json', 'EX', 60);
    expect(await sessions.validate({ userId: record.userId, sessionId: record.sessionId })).toEqual({ status: 'miss', epoch: record.revocationEpoch });
    await sessions.put({ ...record, ...({ refreshToken: 'rt_secret' } as object) });
    expect(await client.get(keys.sessionRecord(record.userId, record.sessionId))).not.toContain('rt_secret');
  });
});
