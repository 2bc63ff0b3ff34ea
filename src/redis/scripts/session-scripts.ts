import { defineRedisScript } from './redis-script.js';
import { SERVER_TIME_LUA } from './server-time.js';

/** Reply of `putSession`. */
export enum SessionPutResult {
  /** The session's expiry has passed by the server clock: nothing to cache. */
  Expired = -2,
  /** The epoch moved past the one the caller observed before reading Postgres. */
  StaleEpoch = -1,
  /** A revocation marker is in place; a concurrent load must not resurrect the session. */
  Revoked = 0,
  Stored = 1,
}

export const READ_SESSION_BY_JTI = defineRedisScript({
  name: 'readSessionByJti',
  description:
    "reads, atomically, the session an access-token jti points to: its record, the user's revocation epoch and the jti's denylist entry (SessionCache.validate decides on them).",
  keys: [
    { name: 'epochKey', description: "the user's revocation epoch (missing = 0)" },
    { name: 'pointerKey', description: 'the access-token pointer (value = session id)' },
    { name: 'denyKey', description: "the jti's denylist entry" },
  ],
  argv: [{ name: 'recordKeyPrefix', description: 'record key = recordKeyPrefix .. pointer value (same {user:<id>} hash tag, hence same slot)' }],
  returns: [
    '{record, epoch, denied}: each nil when its key is missing; record is nil when the pointer is',
    '(record = s1|expiresAt|revocationEpoch|JSON, or a JSON revocation marker)',
  ].join('\n'),
  errors: '',
  // The only session read that needs a script: the record key comes from the pointer's value. A validate by
  // session id reads the same keys with one MGET, no Lua (SessionCache.validate).
  body: `
local sid = redis.call('GET', KEYS[2])
if not sid then return {false, redis.call('GET', KEYS[1]), redis.call('GET', KEYS[3])} end
return redis.call('MGET', ARGV[1] .. sid, KEYS[1], KEYS[3])
`,
});

export const PUT_SESSION = defineRedisScript({
  name: 'putSession',
  description: 'writes a session record unless the session was revoked meanwhile (marker) or the user epoch moved.',
  keys: [
    { name: 'epochKey', description: "the user's revocation epoch" },
    { name: 'recordKey', description: 'the session record' },
    { name: 'indexKey', description: "set of the user's cached session ids (for revokeAllForUser)" },
    { name: 'pointerKey', description: 'access-token pointer jti → session id (written when ARGV[5] > 0)' },
  ],
  argv: [
    { name: 'record', description: 'the record, s1|expiresAt|revocationEpoch|JSON (its revocationEpoch = ARGV[3])' },
    { name: 'recordTtlMs', description: "longest record TTL (SESSION_TTL_SECONDS); the script shortens it to the record's expiresAt by the server clock" },
    { name: 'observedEpoch', description: 'the epoch the caller read before reading Postgres' },
    { name: 'sessionId', description: 'member added to the index' },
    { name: 'pointerTtlMs', description: "pointer TTL: remaining access-token life (at most the record's); '0' = no pointer" },
  ],
  returns: '1 stored; 0 refused: revocation marker present; -1 refused: epoch moved past observedEpoch; -2 refused: expiresAt has passed (server clock)',
  errors: '',
  // The record's TTL ends at its expiresAt by the Redis clock, so a record that exists has not expired by that
  // clock: validate needs no TIME call (it reads the record with a plain MGET) and skewed app servers still agree.
  body: `
${SERVER_TIME_LUA}
local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tonumber(ARGV[3]) < current then return -1 end
local existing = redis.call('GET', KEYS[2])
-- Only a JSON value ('{' = 123) can be a revocation marker; records carry the s1| header.
if existing and string.byte(existing, 1) == 123 then
  local ok, rec = pcall(cjson.decode, existing)
  if ok and type(rec) == 'table' and rec.revoked == true then return 0 end
end
local ttl = tonumber(ARGV[2])
local expiresAt = tonumber(string.match(ARGV[1], '^s1|(%d+)|'))
if expiresAt then ttl = math.min(ttl, math.floor(expiresAt - now)) end
if ttl <= 0 then return -2 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ttl)
redis.call('SADD', KEYS[3], ARGV[4])
if redis.call('PTTL', KEYS[3]) < ttl then redis.call('PEXPIRE', KEYS[3], ttl) end
if tonumber(ARGV[5]) > 0 then redis.call('SET', KEYS[4], ARGV[4], 'PX', math.min(tonumber(ARGV[5]), ttl)) end
return 1
`,
});

export const REVOKE_SESSION = defineRedisScript({
  name: 'revokeSession',
  description: 'replaces a session record by a revocation marker and denylists the access token jti.',
  keys: [
    { name: 'recordKey', description: 'the session record (becomes the marker)' },
    { name: 'indexKey', description: "set of the user's cached session ids" },
    { name: 'denyKey', description: 'denylist entry of the jti (written when ARGV[2] > 0)' },
    { name: 'pointerKey', description: "access-token pointer of the jti (deleted when ARGV[5] = '1')" },
  ],
  argv: [
    { name: 'markerTtlMs', description: 'marker TTL: remaining session life' },
    { name: 'denyTtlMs', description: "denylist TTL: remaining access-token life; '0' = none" },
    { name: 'sessionId', description: 'member removed from the index' },
    { name: 'marker', description: 'marker JSON ({"revoked":true,...})' },
    { name: 'hasJti', description: "'1' when a jti is given" },
  ],
  returns: '1',
  errors: '',
  body: `
redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[1])
redis.call('SREM', KEYS[2], ARGV[3])
if ARGV[5] == '1' then
  redis.call('DEL', KEYS[4])
  if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[3], '1', 'PX', ARGV[2]) end
end
return 1
`,
});

export const REVOKE_ALL_SESSIONS = defineRedisScript({
  name: 'revokeAllSessions',
  description: "advances the user's revocation epoch and turns every indexed record into a revocation marker.",
  keys: [
    { name: 'epochKey', description: "the user's revocation epoch" },
    { name: 'indexKey', description: "set of the user's cached session ids (deleted)" },
  ],
  argv: [
    { name: 'epochTtlMs', description: 'epoch TTL: the longest session life, so no record can outlive its epoch' },
    { name: 'recordKeyPrefix', description: 'record key = recordKeyPrefix .. session id (same {user:<id>} hash tag, hence same slot)' },
    { name: 'marker', description: 'marker JSON written over existing records (XX KEEPTTL)' },
  ],
  returns: [
    '{epoch, markedCount}: the new epoch = max(previous + 1, server time in ms), so it stays',
    'monotonic even when the key expired, was evicted or flushed',
  ].join('\n'),
  errors: '',
  body: `
${SERVER_TIME_LUA}
local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local nextEpoch = math.max(current + 1, math.floor(now))
redis.call('SET', KEYS[1], string.format('%.0f', nextEpoch), 'PX', ARGV[1])
local sids = redis.call('SMEMBERS', KEYS[2])
for _, sid in ipairs(sids) do
  redis.call('SET', ARGV[2] .. sid, ARGV[3], 'XX', 'KEEPTTL')
end
redis.call('DEL', KEYS[2])
return {nextEpoch, #sids}
`,
});
