import 'reflect-metadata';
import calculateSlot from 'cluster-key-slot';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { createPlatform } from '../../../src/platform.js';
import { CacheAside } from '../../../src/redis/repositories/cache-aside.js';
import { LoginThrottle } from '../../../src/redis/repositories/login-throttle.js';
import { RateLimiter } from '../../../src/redis/repositories/rate-limiter.js';
import { RedisConnection } from '../../../src/redis/redis-connection.js';
import { RedisKeys } from '../../../src/redis/redis-keys.js';
import { REDIS_SCRIPTS } from '../../../src/redis/scripts/redis-scripts.js';
import { SessionCache } from '../../../src/redis/repositories/session-cache.js';

interface ScriptCall {
  readonly script: string;
  readonly keys: readonly string[];
  /** ARGV values the script's header names `…KeyPrefix`: the script builds keys from them inside Lua. */
  readonly keyPrefixes: readonly string[];
}

// Replies shaped as each script's header documents them, so the callers go on to their next script.
const REPLIES: Record<string, unknown> = {
  pd_readSessionByJti: [null, null, null],
  pd_putSession: 1,
  pd_revokeSession: 1,
  pd_revokeAllSessions: [1, 0],
  pd_slidingWindowConsume: [1, 0, 0],
  pd_counterIncrement: [1, 60_000],
  pd_cacheReadOrLock: [2, ''],
  pd_cacheWriteIfLockHeld: 1,
  pd_releaseLock: 1,
};

/**
 * A client that records what the real services send to `runScript` (ioredis
 * `defineCommand`: the first `numberOfKeys` arguments are KEYS) instead of a server.
 */
function recordingPlatform(prefix: string) {
  const calls: ScriptCall[] = [];
  const client: Record<string, unknown> = {
    ping: async () => 'PONG',
    get: async () => null,
    // SessionCache.validate by session id reads its keys with one MGET (no script): one slot too.
    mget: async (...keys: string[]) => {
      calls.push({ script: 'MGET', keys, keyPrefixes: [] });
      return keys.map(() => null);
    },
    defineCommand(name: string, definition: { numberOfKeys: number }) {
      client[name] = async (...args: Array<string | number>) => {
        const keys = args.slice(0, definition.numberOfKeys).map(String);
        const argv = args.slice(definition.numberOfKeys).map(String);
        const spec = REDIS_SCRIPTS.find((r) => r.commandName === name);
        calls.push({ script: name, keys, keyPrefixes: argv.filter((_, i) => (spec?.argv[i]?.name ?? '').endsWith('KeyPrefix')) });
        return REPLIES[name];
      };
    },
  };
  const platform = createPlatform(loadConfig({ REDIS_KEY_PREFIX: prefix, LOG_LEVEL: 'silent' }), { stores: ['redis'] });
  platform.container.registerInstance(RedisConnection, { client, keyPrefix: prefix, commandTimeoutMs: 1_000, isCluster: true } as unknown as RedisConnection);
  return { platform, calls };
}

// Ids as RedisKeys accepts them (A-Z a-z 0-9 _ . @ -), arbitrary otherwise.
const id = fc.stringMatching(/^[A-Za-z0-9_.@-]{1,40}$/);
const anyText = fc.string({ minLength: 1, maxLength: 60 });
const prefix = fc.stringMatching(/^[a-zA-Z0-9:_-]{1,32}$/);

describe('Lua scripts on a Redis Cluster', () => {
  it('the slot function is Redis Cluster’s (CRC16/XMODEM mod 16384, hash tags)', () => {
    // Redis Cluster specification, "Keys hash tags" and Appendix A: CRC16("123456789") = 0x31C3.
    expect(calculateSlot('123456789')).toBe(0x31c3 % 16_384);
    expect(calculateSlot('{user1000}.following')).toBe(calculateSlot('{user1000}.followers'));
    expect(calculateSlot('foo{}{bar}')).toBe(calculateSlot('foo{}{bar}'));
    expect(calculateSlot('foo{}{bar}')).not.toBe(calculateSlot('bar'));
    expect(calculateSlot('foo{{bar}}zap')).toBe(calculateSlot('{bar'));
  });

  it('every script the services run touches one slot, for any ids, prefix and inputs', async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(prefix, id, id, id, id, anyText, anyText, fc.ipV4(), async (keyPrefix, userId, sessionId, jti, organizationId, email, scope, ip) => {
        const { platform, calls } = recordingPlatform(keyPrefix);
        const keys = platform.resolve(RedisKeys);
        const sessions = platform.resolve(SessionCache);
        const expiresAt = Date.now() + 3_600_000;
        await sessions.validate({ userId, sessionId });
        await sessions.validate({ userId, jti });
        await sessions.validate({ userId, sessionId, jti });
        await sessions.put({ sessionId, userId, organizationId, expiresAt, revocationEpoch: 0 }, { jti, expiresAt });
        await sessions.revokeSession({ userId, sessionId, sessionExpiresAt: expiresAt, accessToken: { jti, expiresAt } });
        await sessions.revokeAllForUser(userId);
        const limiter = platform.resolve(RateLimiter);
        const safeScope = scope.replace(/[^A-Za-z0-9_.@-]/g, '_');
        await limiter.consumeForApiKey(organizationId, jti, { limit: 10, windowMs: 1_000 });
        await limiter.consumeForUser(userId, safeScope, { limit: 10, windowMs: 1_000 });
        await limiter.consumeForIp(ip, safeScope, { limit: 10, windowMs: 1_000 });
        await platform.resolve(LoginThrottle).recordFailure({ email, ip });
        const cache = platform.resolve(CacheAside);
        await cache.getOrLoad(keys.cache(sessionId, organizationId), 60, async () => ({ v: 1 }));
        await cache.getOrLoad(keys.cache(sessionId), 60, async () => ({ v: 1 }));
        await cache.getOrLoad(keys.cache(jti), 60, async () => undefined);
        for (const call of calls) {
          seen.add(call.script);
          const slots = new Set([...call.keys, ...call.keyPrefixes].map((k) => calculateSlot(k)));
          expect(slots.size, `${call.script}: ${[...call.keys, ...call.keyPrefixes].join(', ')}`).toBe(1);
        }
      }),
      { numRuns: 150 },
    );
    // Every script of the package was exercised (a new script must be added above), and the MGET of validate.
    expect([...seen].sort()).toEqual(['MGET', ...REDIS_SCRIPTS.map((s) => s.commandName)].sort());
  });

  it('BullMQ queue prefixes carry a hash tag, so a queue’s keys share a slot', () => {
    fc.assert(
      fc.property(prefix, fc.constantFrom('ingestion', 'erasure'), id, (keyPrefix, queue, jobId) => {
        const keys = new RedisKeys(loadConfig({ REDIS_KEY_PREFIX: keyPrefix }));
        const base = `${keys.queuePrefix(queue)}:${queue}`;
        // The key names BullMQ 6 builds from `${prefix}:${queue}:<suffix>` (its Lua scripts touch several at once).
        const slots = new Set(
          ['wait', 'active', 'meta', 'id', 'events', 'delayed', 'completed', 'failed', 'stalled', jobId, `${jobId}:lock`].map((s) =>
            calculateSlot(`${base}:${s}`),
          ),
        );
        expect(slots.size).toBe(1);
      }),
    );
  });
});
