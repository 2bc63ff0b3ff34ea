import { describe, expect } from 'vitest';
import { test } from '../../support/fixtures.js';
import { createPlatform, type Platform } from '../../../src/platform.js';
import { RateLimiter } from '../../../src/redis/repositories/rate-limiter.js';
import { RedisConnection } from '../../../src/redis/redis-connection.js';
import { RedisKeys } from '../../../src/redis/redis-keys.js';
import { ValidationError } from '../../../src/errors.js';

let platform: Platform;
let limiter: RateLimiter;
let keys: RedisKeys;

test.beforeAll(async ({ testEnv: env }) => {
  platform = createPlatform(env.config, { stores: ['redis'] });
  await platform.start();
  limiter = platform.resolve(RateLimiter);
  keys = platform.resolve(RedisKeys);
});
test.afterAll(() => platform?.stop());

describe('RateLimiter (sliding-window log)', () => {
  test('allows exactly the limit out of 200 concurrent calls', async () => {
    const results = await Promise.all(Array.from({ length: 200 }, () => limiter.consumeForApiKey('org1', 'key-concurrent', { limit: 50, windowMs: 60_000 })));
    expect(results.filter((r) => r.allowed)).toHaveLength(50);
    const remaining = results
      .filter((r) => r.allowed)
      .map((r) => r.remaining)
      .sort((a, b) => a - b);
    expect(remaining).toEqual(Array.from({ length: 50 }, (_, i) => i));
    for (const denied of results.filter((r) => !r.allowed)) {
      expect(denied.remaining).toBe(0);
      expect(denied.retryAfterMs).toBeGreaterThan(59_000);
      expect(denied.retryAfterMs).toBeLessThanOrEqual(60_000);
      expect(denied.limit).toBe(50);
    }
  });

  test('allows exactly the limit across two connections (two app servers)', async () => {
    const other = createPlatform(platform.config, { stores: ['redis'] });
    await other.start();
    try {
      const second = other.resolve(RateLimiter);
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => (i % 2 ? limiter : second).consumeForUser('u-two', 'chat', { limit: 30, windowMs: 60_000 })),
      );
      expect(results.filter((r) => r.allowed)).toHaveLength(30);
    } finally {
      await other.stop();
    }
  });

  test('gives a retry-after after which the call is admitted again', async () => {
    const options = { limit: 3, windowMs: 400 };
    for (let i = 0; i < 3; i++) expect((await limiter.consumeForIp('203.0.113.9', 'signup', options)).allowed).toBe(true);
    const denied = await limiter.consumeForIp('203.0.113.9', 'signup', options);
    expect(denied.allowed).toBe(false);
    expect(denied.retryAfterMs).toBeGreaterThan(0);
    expect(denied.retryAfterMs).toBeLessThanOrEqual(400);
    await new Promise((r) => setTimeout(r, denied.retryAfterMs + 5));
    const again = await limiter.consumeForIp('203.0.113.9', 'signup', options);
    expect(again.allowed).toBe(true);
    // The three earlier calls were within a few ms; at least the oldest has left the window.
    expect(again.remaining).toBeLessThanOrEqual(2);
  });

  test('counts cost and keeps a TTL on the key; hashes the IP', async () => {
    const key = keys.rateLimitIp('198.51.100.1', 'bulk');
    expect(key).not.toContain('198.51.100.1');
    expect((await limiter.consume(key, { limit: 10, windowMs: 5_000, cost: 7 })).remaining).toBe(3);
    const denied = await limiter.consume(key, { limit: 10, windowMs: 5_000, cost: 4 });
    expect(denied).toMatchObject({ allowed: false, remaining: 3 });
    expect((await limiter.consume(key, { limit: 10, windowMs: 5_000, cost: 3 })).allowed).toBe(true);
    const pttl = await platform.resolve(RedisConnection).client.pttl(key);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(5_000);
  });

  test('rejects a cost above the limit', async () => {
    await expect(limiter.consumeForUser('u1', 'x', { limit: 2, windowMs: 1_000, cost: 3 })).rejects.toBeInstanceOf(ValidationError);
  });
});
