import { defineRedisScript } from './redis-script.js';

/** Reply of `cacheWriteIfLockHeld`. */
export enum CacheWriteResult {
  /** The lock was lost (expired or removed by `invalidate`): the loaded value may be stale, so it is not cached. */
  LockLost = 0,
  Written = 1,
}

/** First element of the `cacheReadOrLock` reply. */
export enum CacheReadOrLockResult {
  /** Another caller holds the load lock: wait and retry. */
  Locked = 0,
  /** The entry exists: second element is its value. */
  Found = 1,
  /** No entry; the caller now holds the load lock. */
  Acquired = 2,
}

export const CACHE_READ_OR_LOCK = defineRedisScript({
  name: 'cacheReadOrLock',
  description: 'returns the cache entry, or takes the load lock when there is none (atomically, so no load starts right after another stored its value).',
  keys: [
    { name: 'valueKey', description: 'the cache entry' },
    { name: 'lockKey', description: 'the load lock' },
  ],
  argv: [
    { name: 'token', description: "the caller's random token" },
    { name: 'lockTtlMs', description: 'lock TTL' },
    { name: 'skipValue', description: "'1' when the caller found the entry unusable (fails its schema) and wants to reload it" },
  ],
  returns: "{1, value} found; {2, ''} lock acquired: load and store; {0, ''} locked by another caller: wait",
  errors: '',
  body: `
if ARGV[3] ~= '1' then
  local value = redis.call('GET', KEYS[1])
  if value then return {1, value} end
end
if redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2], 'NX') then return {2, ''} end
return {0, ''}
`,
});

export const CACHE_WRITE_IF_LOCK_HELD = defineRedisScript({
  name: 'cacheWriteIfLockHeld',
  description: 'stores a loaded value only while the caller still holds the load lock, then releases it.',
  keys: [
    { name: 'valueKey', description: 'the cache entry' },
    { name: 'lockKey', description: 'the load lock (value = holder token)' },
  ],
  argv: [
    { name: 'token', description: "the holder's random token" },
    { name: 'value', description: 'JSON value' },
    { name: 'ttlMs', description: 'TTL of the entry' },
  ],
  returns: '1 written (and lock released); 0 lock no longer held by token (nothing written)',
  errors: '',
  body: `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2])
return 1
`,
});

export const RELEASE_LOCK = defineRedisScript({
  name: 'releaseLock',
  description: 'deletes a lock only if the caller still holds it (compare-and-delete).',
  keys: [{ name: 'lockKey', description: 'the lock' }],
  argv: [{ name: 'token', description: "the holder's random token" }],
  returns: '1 released; 0 not held by token',
  errors: '',
  body: `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`,
});
