import { randomUUID } from 'node:crypto';
import { describe, expect } from 'vitest';
import { StoreUnavailableError } from '../../../src/errors.js';
import { createPlatform, type Platform } from '../../../src/platform.js';
import { RedisConnection } from '../../../src/redis/redis-connection.js';
import { SessionCache } from '../../../src/redis/repositories/session-cache.js';
import { test } from '../../support/fixtures.js';

// FLUSHALL would wipe other test files' keys on the shared Redis: this file runs its own redis-server.
test.override('envOverrides', ({ privateRedis }) => ({ REDIS_URL: privateRedis.url }));

let platform: Platform;
let sessions: SessionCache;

/** What a flow does on a miss: Postgres (here a map) decides, then repopulates. */
const postgres = new Map<string, { userId: string; expiresAt: number; revokedAt: number | null }>();

async function validateLikeAFlow(userId: string, sessionId: string): Promise<'valid' | 'rejected'> {
  const cached = await sessions.validate({ userId, sessionId });
  if (cached.status === 'hit') return 'valid';
  if (cached.status === 'revoked') return 'rejected';
  // The epoch the miss carries (read with it, before Postgres); readEpoch only when the miss has none.
  const epoch = cached.epoch ?? (await sessions.readEpoch(userId));
  const row = postgres.get(sessionId);
  if (!row || row.revokedAt !== null || row.expiresAt <= Date.now()) return 'rejected';
  await sessions.put({ sessionId, userId, organizationId: null, expiresAt: row.expiresAt, revocationEpoch: epoch });
  return 'valid';
}

test.beforeAll(async ({ testEnv }) => {
  platform = createPlatform(testEnv.config, { stores: ['redis'] });
  await platform.start();
  sessions = platform.resolve(SessionCache);
});
test.afterAll(() => platform?.stop());

describe('SessionCache after FLUSHALL', () => {
  test('returns miss (never hit) for revoked sessions; live sessions are repopulated; revoked stay rejected', async () => {
    const userId = randomUUID();
    const live = randomUUID();
    const revoked = randomUUID();
    const allRevokedUser = randomUUID();
    const allRevokedSession = randomUUID();
    const expiresAt = Date.now() + 3_600_000;
    postgres.set(live, { userId, expiresAt, revokedAt: null });
    postgres.set(revoked, { userId, expiresAt, revokedAt: null });
    postgres.set(allRevokedSession, { userId: allRevokedUser, expiresAt, revokedAt: null });
    for (const [sid, row] of postgres) expect(await validateLikeAFlow(row.userId, sid)).toBe('valid');

    // Revoke: Postgres first, then Redis.
    postgres.get(revoked)!.revokedAt = Date.now();
    await sessions.revokeSession({ userId, sessionId: revoked, sessionExpiresAt: expiresAt });
    postgres.get(allRevokedSession)!.revokedAt = Date.now();
    await sessions.revokeAllForUser(allRevokedUser);

    await platform.resolve(RedisConnection).client.flushall();

    expect((await sessions.validate({ userId, sessionId: revoked })).status).toBe('miss');
    expect((await sessions.validate({ userId: allRevokedUser, sessionId: allRevokedSession })).status).toBe('miss');
    expect(await validateLikeAFlow(userId, revoked)).toBe('rejected');
    expect(await validateLikeAFlow(allRevokedUser, allRevokedSession)).toBe('rejected');
    expect(await validateLikeAFlow(userId, live)).toBe('valid');
    expect((await sessions.validate({ userId, sessionId: live })).status).toBe('hit');

    // After the flush the epoch restarts from the server clock, so a revoke-all still beats records cached before it.
    const epoch = await sessions.revokeAllForUser(userId);
    expect(epoch).toBeGreaterThan(Date.now() - 60_000);
    expect((await sessions.validate({ userId, sessionId: live })).status).toBe('revoked');
  });
});

describe('SessionCache with Redis down', () => {
  test('fails fast with StoreUnavailableError, so the flow can fall back to Postgres', async ({ privateRedis }) => {
    await privateRedis.stop();
    const started = Date.now();
    const error = await sessions.validate({ userId: 'u-down', sessionId: 's-down' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    // Fails instead of retrying until Redis returns; generous for a loaded machine.
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
