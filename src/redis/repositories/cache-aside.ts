import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { withRedisErrors } from '../map-redis-error.js';
import { RedisConnection } from '../redis-connection.js';
import type { RedisKey } from '../redis-keys.js';
import { CACHE_READ_OR_LOCK, CACHE_WRITE_IF_LOCK_HELD, CacheReadOrLockResult, RELEASE_LOCK } from '../scripts/cache-scripts.js';
import { runScript } from '../scripts/redis-script.js';

export interface CacheAsideOptions {
  /** How long a loader may hold the stampede lock (default 5000 ms). */
  readonly lockTtlMs?: number;
  /** How long waiters poll for the holder's value before loading themselves (default = lockTtlMs). */
  readonly waitMs?: number;
  /** Poll interval of waiters (default 20 ms). */
  readonly pollMs?: number;
}

/**
 * Cache-aside for hot reads (organization settings, plans …) with stampede
 * protection: on a miss one caller takes a short lock (`SET NX PX`, in the
 * same script as the read, so no caller can miss a value stored a moment
 * before it takes the lock) and runs
 * the loader; the others poll for its value and, if the holder dies (its lock
 * expires) or is too slow, load themselves. The value is written only while
 * its loader still holds the lock, so an `invalidate` that lands during a load
 * (it deletes the lock too) keeps the stale value out of the cache.
 *
 * Values are JSON; with a zod `schema`, an entry that no longer parses
 * (corruption, an older shape) is a miss and is reloaded.
 */
@injectable()
export class CacheAside {
  constructor(@inject(RedisConnection) private readonly redis: RedisConnection) {}

  /**
   * @param key build it with `RedisKeys.cache(name, organizationId)`.
   * @param loader reads the source of truth; `undefined` results are returned but not cached.
   * @throws whatever `loader` throws; StoreUnavailableError when Redis is down.
   */
  async getOrLoad<T>(key: RedisKey, ttlSeconds: number, loader: () => Promise<T>, schema?: z.ZodType<T>, options: CacheAsideOptions = {}): Promise<T> {
    const lockTtlMs = options.lockTtlMs ?? 5_000;
    const deadline = Date.now() + (options.waitMs ?? lockTtlMs);
    const pollMs = options.pollMs ?? 20;
    const lockKey = `${key}:lock`;
    let skipValue = false;
    for (;;) {
      const token = randomUUID();
      const [state, raw] = readOrLockReply.parse(
        await runScript(this.redis.client, CACHE_READ_OR_LOCK, [key, lockKey], [token, lockTtlMs, skipValue ? '1' : '0']),
      );
      if (state === CacheReadOrLockResult.Found) {
        const cached = decode(raw, schema);
        if (cached.found) return cached.value;
        skipValue = true; // corrupted or outdated shape: a miss, reload it
        continue;
      }
      if (state === CacheReadOrLockResult.Acquired) return this.#loadAndStore(key, lockKey, token, ttlSeconds, loader);
      if (Date.now() >= deadline) return loader();
      skipValue = false; // the holder's fresh value is what we wait for
      await sleep(pollMs);
    }
  }

  /** Removes the entry (call after writing the source of truth) and any in-flight load's lock. @throws StoreUnavailableError */
  async invalidate(key: RedisKey): Promise<void> {
    await withRedisErrors(() => this.redis.client.del(key, `${key}:lock`));
  }

  async #loadAndStore<T>(key: RedisKey, lockKey: string, token: string, ttlSeconds: number, loader: () => Promise<T>): Promise<T> {
    let value: T;
    try {
      value = await loader();
    } catch (error) {
      await runScript(this.redis.client, RELEASE_LOCK, [lockKey], [token]).catch(() => undefined);
      throw error;
    }
    if (value === undefined) {
      await runScript(this.redis.client, RELEASE_LOCK, [lockKey], [token]);
    } else {
      await runScript(this.redis.client, CACHE_WRITE_IF_LOCK_HELD, [key, lockKey], [token, JSON.stringify(value), Math.max(1, Math.round(ttlSeconds * 1000))]);
    }
    return value;
  }
}

const readOrLockReply = z.tuple([z.number(), z.string()]);

function decode<T>(raw: string, schema: z.ZodType<T> | undefined): { found: true; value: T } | { found: false } {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { found: false };
  }
  if (!schema) return { found: true, value: value as T };
  const parsed = schema.safeParse(value);
  return parsed.success ? { found: true, value: parsed.data } : { found: false };
}
