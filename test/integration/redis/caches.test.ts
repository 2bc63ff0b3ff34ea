import { describe, expect } from 'vitest';
import { test } from '../../support/fixtures.js';
import { z } from 'zod';
import { createPlatform, type Platform } from '../../../src/platform.js';
import { CacheAside } from '../../../src/redis/repositories/cache-aside.js';
import { RedisConnection } from '../../../src/redis/redis-connection.js';
import { RedisKeys } from '../../../src/redis/redis-keys.js';
import { VoiceCache } from '../../../src/redis/repositories/voice-cache.js';

let platform: Platform;
let second: Platform;
let cache: CacheAside;
let keys: RedisKeys;

const settings = z.object({ plan: z.string(), seats: z.number() });

test.beforeAll(async ({ testEnv: env }) => {
  platform = createPlatform(env.config, { stores: ['redis'] });
  second = createPlatform(env.config, { stores: ['redis'] });
  await Promise.all([platform.start(), second.start()]);
  cache = platform.resolve(CacheAside);
  keys = platform.resolve(RedisKeys);
});
test.afterAll(async () => {
  await platform?.stop();
  await second?.stop();
});

describe('CacheAside', () => {
  test('calls the loader once for 100 concurrent misses across two processes', async () => {
    const key = keys.cache('settings', 'org-stampede');
    let calls = 0;
    const loader = async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 100));
      return { plan: 'pro', seats: 5 };
    };
    const other = second.resolve(CacheAside);
    const values = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? cache : other).getOrLoad(key, 60, loader, settings)));
    expect(calls).toBe(1);
    expect(values.every((v) => v.plan === 'pro' && v.seats === 5)).toBe(true);
    const ttl = await platform.resolve(RedisConnection).client.ttl(key);
    expect(ttl).toBeGreaterThan(50);
  });

  test('lets waiters load themselves when the lock holder dies', async () => {
    const key = keys.cache('settings', 'org-dead-holder');
    // A holder that died: its lock is there, no value will ever come.
    await platform.resolve(RedisConnection).client.set(`${key}:lock`, 'dead', 'PX', 150);
    let calls = 0;
    const started = Date.now();
    const value = await cache.getOrLoad(key, 60, async () => ({ plan: 'free', seats: ++calls }), settings, { lockTtlMs: 1_000, waitMs: 20_000 });
    expect(value).toEqual({ plan: 'free', seats: 1 });
    // Loaded once the dead holder's lock expired (150 ms), not after waiting the full 20 s.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test('treats a corrupted entry as a miss and invalidates explicitly', async () => {
    const key = keys.cache('settings', 'org-corrupt');
    await platform.resolve(RedisConnection).client.set(key, '{"plan": 42', 'EX', 60);
    let version = 1;
    const loader = async () => ({ plan: `v${version}`, seats: 1 });
    expect(await cache.getOrLoad(key, 60, loader, settings)).toEqual({ plan: 'v1', seats: 1 });
    await platform.resolve(RedisConnection).client.set(key, JSON.stringify({ plan: 7 }), 'EX', 60);
    expect(await cache.getOrLoad(key, 60, loader, settings)).toEqual({ plan: 'v1', seats: 1 });
    version = 2;
    expect(await cache.getOrLoad(key, 60, loader, settings)).toEqual({ plan: 'v1', seats: 1 });
    await cache.invalidate(key);
    expect(await cache.getOrLoad(key, 60, loader, settings)).toEqual({ plan: 'v2', seats: 1 });
  });

  test('does not cache a value whose load raced an invalidate', async () => {
    const key = keys.cache('settings', 'org-race');
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const slow = cache.getOrLoad(
      key,
      60,
      async () => {
        await gate;
        return { plan: 'stale', seats: 0 };
      },
      settings,
    );
    await new Promise((r) => setTimeout(r, 50));
    await cache.invalidate(key);
    release();
    expect(await slow).toEqual({ plan: 'stale', seats: 0 });
    expect(await platform.resolve(RedisConnection).client.get(key)).toBeNull();
  });
});

describe('VoiceCache', () => {
  test('round-trips audio bytes by content hash with a TTL, per organization', async () => {
    const voice = platform.resolve(VoiceCache);
    const request = { text: 'Hello there', voice: 'alloy', format: 'mp3' };
    const hash = VoiceCache.contentHash(request);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(VoiceCache.contentHash({ ...request, format: 'opus' })).not.toBe(hash);
    const audio = Buffer.from([0, 1, 2, 255, 254, 0x49, 0x44, 0x33, 0]);
    expect(await voice.get('org-a', hash)).toBeUndefined();
    await voice.put('org-a', hash, audio, 120);
    const back = await voice.get('org-a', hash);
    expect(back && Buffer.compare(back, audio)).toBe(0);
    expect(await voice.get('org-b', hash)).toBeUndefined();
    const ttl = await platform.resolve(RedisConnection).client.ttl(keys.voice('org-a', hash));
    expect(ttl).toBeGreaterThan(100);

    let synthesized = 0;
    const synth = async () => {
      synthesized++;
      return audio;
    };
    expect((await voice.getOrSynthesize('org-a', request, synth)).cached).toBe(true);
    expect((await voice.getOrSynthesize('org-c', request, synth)).cached).toBe(false);
    expect(synthesized).toBe(1);
  });
});
