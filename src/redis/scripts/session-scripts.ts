import { defineRedisScript } from './redis-script.js';
import { SERVER_TIME_LUA } from './server-time.js';

/**
 * Integer replies of `validateSession` (a hit is the record itself, a string).
 * Positive codes say why the session is revoked.
 */
export enum SessionValidateReply {
  /**
   * Redis does not know the session: load it from Postgres. The script answers a miss as a negative
   * integer carrying the user's revocation epoch (see {@link missEpoch}); 0 is a miss without it.
   */
  Miss = 0,
  /** The record is a revocation marker written by `revokeSession`/`revokeAllForUser`. */
  RevokedMarker = 1,
  /** The record's `revocationEpoch` is below the user's current epoch. */
  RevokedEpoch = 2,
  /** The access token's jti is on the denylist. */
  Denylisted = 3,
  /** The record's `expiresAt` has passed (server clock). */
  Expired = 4,
}

/** The revocation epoch a negative `validateSession` reply (a miss) carries. */
export function missEpoch(reply: number): number {
  return -1 - reply;
}

/** Reply of `putSession`. */
export enum SessionPutResult {
  /** The epoch moved past the one the caller observed before reading Postgres. */
  StaleEpoch = -1,
  /** A revocation marker is in place; a concurrent load must not resurrect the session. */
  Revoked = 0,
  Stored = 1,
}

export const VALIDATE_SESSION = defineRedisScript({
  name: 'validateSession',
  description: 'validates a cached session in one round trip (denylist, record, expiry, revocation epoch).',
  keys: [
    { name: 'epochKey', description: "the user's revocation epoch (missing = 0)" },
    { name: 'lookupKey', description: "mode 'sid': the session record; mode 'jti': the access-token pointer (value = session id)" },
    { name: 'denyKey', description: "the jti's denylist entry (consulted only when ARGV[2] = '1')" },
  ],
  argv: [
    { name: 'mode', description: "'sid' or 'jti'" },
    { name: 'hasJti', description: "'1' when a jti is given, else '0'" },
    { name: 'recordKeyPrefix', description: "mode 'jti': record key = recordKeyPrefix .. pointer value (same {user:<id>} hash tag, hence same slot)" },
  ],
  returns: [
    'record  hit: the stored record (s1|expiresAt|revocationEpoch|JSON)',
    "< 0     miss (no record / pointer, or an unreadable record): load from Postgres; -1 - reply = the user's revocation epoch, read atomically with the miss",
    '1..4    revoked: 1 = revocation marker, 2 = epoch, 3 = jti denylisted, 4 = expired',
  ].join('\n'),
  errors: '',
  // Record, epoch and denylist entry come from one MGET (one redis.call instead of three). Records in the
  // current format carry expiry and epoch in a fixed header, so the hot path needs no cjson.decode; JSON
  // values (revocation markers, records of older releases) are still decoded.
  body: `
${SERVER_TIME_LUA}
-- A miss carries the epoch (what readEpoch would answer), so a loader needs no second round trip before Postgres.
local function miss(epoch) return -1 - (tonumber(epoch or '0') or 0) end
local recordKey = KEYS[2]
if ARGV[1] == 'jti' then
  local sid = redis.call('GET', KEYS[2])
  if not sid then
    if ARGV[2] == '1' and redis.call('EXISTS', KEYS[3]) == 1 then return 3 end
    return miss(redis.call('GET', KEYS[1]))
  end
  recordKey = ARGV[3] .. sid
end
local v = redis.call('MGET', recordKey, KEYS[1], KEYS[3])
if ARGV[2] == '1' and v[3] then return 3 end
local raw = v[1]
if not raw then return miss(v[2]) end
local expiresAt, recordEpoch = string.match(raw, '^s1|(%d+)|(%d+)|')
if expiresAt then
  expiresAt = tonumber(expiresAt)
  recordEpoch = tonumber(recordEpoch)
else
  local ok, rec = pcall(cjson.decode, raw)
  if not ok or type(rec) ~= 'table' then return miss(v[2]) end
  if rec.revoked == true then return 1 end
  expiresAt = tonumber(rec.expiresAt)
  recordEpoch = tonumber(rec.revocationEpoch)
  if not expiresAt or not recordEpoch then return miss(v[2]) end
end
if expiresAt <= now then return 4 end
if recordEpoch < (tonumber(v[2] or '0') or 0) then return 2 end
return raw
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
    { name: 'recordTtlMs', description: 'record TTL: remaining session life' },
    { name: 'observedEpoch', description: 'the epoch the caller read before reading Postgres' },
    { name: 'sessionId', description: 'member added to the index' },
    { name: 'pointerTtlMs', description: "pointer TTL: remaining access-token life; '0' = no pointer" },
  ],
  returns: '1 stored; 0 refused: revocation marker present; -1 refused: epoch moved past observedEpoch',
  errors: '',
  body: `
local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tonumber(ARGV[3]) < current then return -1 end
local existing = redis.call('GET', KEYS[2])
-- Only a JSON value ('{' = 123) can be a revocation marker; records carry the s1| header.
if existing and string.byte(existing, 1) == 123 then
  local ok, rec = pcall(cjson.decode, existing)
  if ok and type(rec) == 'table' and rec.revoked == true then return 0 end
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[3], ARGV[4])
if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[3], ARGV[2]) end
if tonumber(ARGV[5]) > 0 then redis.call('SET', KEYS[4], ARGV[4], 'PX', ARGV[5]) end
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
