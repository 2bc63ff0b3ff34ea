import { defineRedisScript } from './redis-script.js';
import { SERVER_TIME_LUA } from './server-time.js';

/** First element of the `slidingWindowConsume` reply. */
export enum RateLimitDecision {
  Denied = 0,
  Allowed = 1,
}

export const SLIDING_WINDOW_CONSUME = defineRedisScript({
  name: 'slidingWindowConsume',
  description: 'sliding-window log rate limit: admits `cost` units if at most `limit` fall in the trailing window.',
  keys: [{ name: 'logKey', description: 'sorted set of admitted units (score = server time in ms)' }],
  argv: [
    { name: 'limit', description: 'units allowed per window (integer >= 1)' },
    { name: 'windowMs', description: 'window length in ms' },
    { name: 'cost', description: 'units this call consumes (1 <= cost <= limit)' },
    { name: 'memberId', description: 'unique id of this call; members are memberId:1..cost' },
  ],
  returns: [
    '{decision, remaining, retryAfterMs}: decision 1 = allowed, 0 = denied;',
    'remaining = units left in the window after this call;',
    'retryAfterMs = 0 when allowed, else ms until enough units leave the window',
  ].join('\n'),
  errors: '',
  body: `
${SERVER_TIME_LUA}
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
if used + cost <= limit then
  for i = 1, cost do redis.call('ZADD', KEYS[1], now, ARGV[4] .. ':' .. i) end
  redis.call('PEXPIRE', KEYS[1], math.ceil(window))
  return {1, limit - used - cost, 0}
end
local index = used + cost - limit - 1
local oldest = redis.call('ZRANGE', KEYS[1], index, index, 'WITHSCORES')
local retry = window
if oldest[2] then retry = math.max(1, math.ceil(tonumber(oldest[2]) + window - now)) end
local remaining = limit - used
if remaining < 0 then remaining = 0 end
return {0, remaining, retry}
`,
});

export const COUNTER_INCREMENT = defineRedisScript({
  name: 'counterIncrement',
  description: 'increments a counter whose window starts at its first increment.',
  keys: [{ name: 'counterKey', description: 'the counter' }],
  argv: [{ name: 'windowMs', description: 'TTL set when the counter is created' }],
  returns: '{count, pttlMs}: the count after the increment and the remaining window',
  errors: 'WRONGTYPE when the key holds another type',
  body: `
local count = redis.call('INCR', KEYS[1])
if count == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('PTTL', KEYS[1])}
`,
});
