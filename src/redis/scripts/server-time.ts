/**
 * Lua snippet: `now`, the server clock in milliseconds (with microsecond
 * fraction). Scripts use the Redis clock rather than the callers' so app
 * servers with skewed clocks still agree on windows and expiry. Allowed in
 * scripts since Redis 5 (effects replication, the only mode in Redis 7).
 */
export const SERVER_TIME_LUA = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000`;
