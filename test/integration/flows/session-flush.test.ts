import 'reflect-metadata';
import { describe, expect } from 'vitest';
import { RedisConnection } from '../../../src/redis/redis-connection.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import { sleep } from '../../support/sleep.js';
import { expectSignedIn } from '../../../src/flows/auth/expect-signed-in.js';
import { requireStores } from '../../support/require-stores.js';
import { test } from '../../support/fixtures.js';

// FLUSHALL would wipe other files' keys on the shared Redis: this file runs its own redis-server.
test.override('envOverrides', ({ privateRedis }) => ({ REDIS_URL: privateRedis.url }));

describe.skipIf(!requireStores('postgres', 'redis'))('session flows after FLUSHALL', () => {
  test('loses no session (repopulated from Postgres) and accepts no revoked one', async ({ flow: h }) => {
    const client = { ip: '203.0.113.9', userAgent: 'vitest' };
    const a = await h.user();
    const b = await h.user();
    const live = expectSignedIn(await h.signIn.login(a.email, PASSWORD, client));
    const loggedOut = expectSignedIn(await h.signIn.login(a.email, PASSWORD, client));
    const everywhere = expectSignedIn(await h.signIn.login(b.email, PASSWORD, client));
    for (const s of [live, loggedOut, everywhere]) expect((await h.validator.validate({ userId: s.user.id, sessionId: s.sessionId })).source).toBe('cache');
    await h.revoker.logout(loggedOut.sessionId);
    await h.revoker.logoutEverywhere(b.userId);

    // Flush while validations run: every answer must still be right.
    const redis = h.platform.resolve(RedisConnection).client;
    const racing = Array.from({ length: 40 }, async (_, i) => {
      await sleep(i % 10);
      const s = [live, loggedOut, everywhere][i % 3]!;
      const ok = await h.validator.validate({ userId: s.user.id, sessionId: s.sessionId }).then(
        () => true,
        () => false,
      );
      expect(ok).toBe(s === live);
    });
    await Promise.all([...racing, sleep(4).then(() => redis.flushall())]);
    await redis.flushall();

    const first = await h.validator.validate({ userId: a.userId, sessionId: live.sessionId });
    expect(first.source).toBe('postgres');
    expect((await h.validator.validate({ userId: a.userId, sessionId: live.sessionId })).source).toBe('cache');
    expect((await h.validator.validate({ userId: a.userId, jti: live.accessTokenJti })).sessionId).toBe(live.sessionId);
    await expect(h.validator.validate({ userId: a.userId, sessionId: loggedOut.sessionId })).rejects.toMatchObject({ reason: 'revoked' });
    await expect(h.validator.validate({ userId: a.userId, jti: loggedOut.accessTokenJti })).rejects.toMatchObject({ reason: 'revoked' });
    await expect(h.validator.validate({ userId: b.userId, sessionId: everywhere.sessionId })).rejects.toMatchObject({ reason: 'revoked' });
    // Refresh state lives in Postgres only: unaffected by the flush.
    expect((await h.rotation.refresh(live.refreshToken, client)).sessionId).toBe(live.sessionId);
    await expect(h.rotation.refresh(loggedOut.refreshToken, client)).rejects.toMatchObject({ reason: 'revoked' });

    // Revocation after the flush still wins over the repopulated record.
    await h.revoker.logoutEverywhere(a.userId);
    await expect(h.validator.validate({ userId: a.userId, sessionId: live.sessionId })).rejects.toMatchObject({ reason: 'revoked' });
  });

  test('validates against Postgres while Redis is down', async ({ flow: h, privateRedis }) => {
    const u = await h.user();
    const s = expectSignedIn(await h.signIn.login(u.email, PASSWORD, {}));
    await privateRedis.stop();
    const v = await h.validator.validate({ userId: u.userId, sessionId: s.sessionId });
    expect(v.source).toBe('postgres');
  });
});
