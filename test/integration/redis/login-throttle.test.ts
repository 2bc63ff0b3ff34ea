import { describe, expect } from 'vitest';
import { test } from '../../support/fixtures.js';
import { RateLimitedError } from '../../../src/errors.js';
import { createPlatform, type Platform } from '../../../src/platform.js';
import { LoginThrottle } from '../../../src/redis/repositories/login-throttle.js';
import { RedisConnection } from '../../../src/redis/redis-connection.js';
import { listKeys } from '../../support/redis-admin.js';

let platform: Platform;
let throttle: LoginThrottle;

test.override('envOverrides', { LOCKOUT_THRESHOLD: '3', LOCKOUT_SECONDS: '60' });

test.beforeAll(async ({ testEnv: env }) => {
  platform = createPlatform(env.config, { stores: ['redis'] });
  await platform.start();
  throttle = platform.resolve(LoginThrottle);
});
test.afterAll(() => platform?.stop());

describe('LoginThrottle', () => {
  test('refuses an account after the lockout threshold, with retry-after, and resets on success', async () => {
    const attempt = { email: 'Alice@Example.com', ip: '192.0.2.10' };
    for (let i = 0; i < 3; i++) {
      await throttle.check(attempt);
      await throttle.recordFailure(attempt);
    }
    const error = await throttle.check({ email: ' alice@example.COM ', ip: '192.0.2.11' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBeGreaterThan(55_000);
    expect((error as RateLimitedError).retryAfterMs).toBeLessThanOrEqual(60_000);
    await throttle.reset({ email: 'alice@example.com' });
    await expect(throttle.check(attempt)).resolves.toBeUndefined();
  });

  test('refuses an IP spraying many accounts; reset does not clear the IP', async () => {
    const strict = throttle.withPolicy({ ipLimit: 4 });
    for (let i = 0; i < 4; i++) await strict.recordFailure({ email: `user${i}@example.com`, ip: '192.0.2.99' });
    await strict.reset({ email: 'user0@example.com' });
    await expect(strict.check({ email: 'fresh@example.com', ip: '192.0.2.99' })).rejects.toBeInstanceOf(RateLimitedError);
    await expect(strict.check({ email: 'fresh@example.com', ip: '192.0.2.100' })).resolves.toBeUndefined();
  });

  test('never puts the email or IP in a key', async () => {
    await throttle.recordFailure({ email: 'secret-person@example.com', ip: '192.0.2.77' });
    const keys = await listKeys(platform.resolve(RedisConnection).client, `${platform.config.redis.keyPrefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).not.toMatch(/secret-person|example\.com|192\.0\.2/);
      expect(await platform.resolve(RedisConnection).client.pttl(key)).toBeGreaterThan(0);
    }
  });
});
