/**
 * `platform-data/redis`: the Redis connection, provisioning, key schema,
 * session cache, rate limiting, caches and job queues.
 */
export { RedisConnection } from './redis-connection.js';
export type { RedisClient } from './redis-connection.js';
export { scanKeys, unlinkKeys } from './scan-keys.js';
export { RedisProvisioner } from './redis-provisioner.js';
export { mapRedisError } from './map-redis-error.js';
export { RedisKeys, REDIS_KEY_SCHEMA } from './redis-keys.js';
export type { RedisKey, RedisKeySpec } from './redis-keys.js';
export { SessionCache, cachedSessionSchema } from './repositories/session-cache.js';
export type { CachedSession, CachedSessionInput, SessionRef, SessionValidation, SessionPutOutcome, RevokedReason } from './repositories/session-cache.js';
export { RateLimiter } from './repositories/rate-limiter.js';
export type { RateLimitOptions, RateLimitResult } from './repositories/rate-limiter.js';
export { LoginThrottle } from './repositories/login-throttle.js';
export type { LoginThrottlePolicy, LoginAttempt, LoginFailureCounts } from './repositories/login-throttle.js';
export { CacheAside } from './repositories/cache-aside.js';
export type { CacheAsideOptions } from './repositories/cache-aside.js';
export { VoiceCache, VOICE_CACHE_TTL_SECONDS } from './repositories/voice-cache.js';
export type { VoiceRequest } from './repositories/voice-cache.js';
export { JobQueues, defineQueue } from './job-queues.js';
export type {
  QueueDefinition,
  EnqueueOptions,
  JobContext,
  JobProcessor,
  WorkerOptions,
  WorkerHandle,
  DeadLetterEntry,
  JobReconciler,
  JobSchedule,
  JobScheduleInfo,
} from './job-queues.js';
export { checkRedisForQueues } from './check-redis-for-queues.js';
export type { RedisQueueReadiness } from './check-redis-for-queues.js';
export { TaggedKeyScanner } from './repositories/tagged-key-scanner.js';
export type { KeyTag } from './repositories/tagged-key-scanner.js';
export { SessionCacheBreaker } from './repositories/session-cache-breaker.js';
export type { SessionCacheBreakerState, RevocationReplay } from './repositories/session-cache-breaker.js';
