/**
 * `platform-data/redis`: the Redis connection, provisioning, key schema,
 * session cache, rate limiting, caches and job queues.
 */
export { RedisConnection } from './redis-connection.js';
export { RedisProvisioner } from './redis-provisioner.js';
export { mapRedisError } from './map-redis-error.js';
export { RedisKeys, REDIS_KEY_SCHEMA } from './redis-keys.js';
export type { RedisKey, RedisKeySpec } from './redis-keys.js';
export { SessionCache, cachedSessionSchema } from './session-cache.js';
export type { CachedSession, CachedSessionInput, SessionRef, SessionValidation, SessionPutOutcome, RevokedReason } from './session-cache.js';
export { RateLimiter } from './rate-limiter.js';
export type { RateLimitOptions, RateLimitResult } from './rate-limiter.js';
export { LoginThrottle } from './login-throttle.js';
export type { LoginThrottlePolicy, LoginAttempt, LoginFailureCounts } from './login-throttle.js';
export { CacheAside } from './cache-aside.js';
export type { CacheAsideOptions } from './cache-aside.js';
export { VoiceCache, VOICE_CACHE_TTL_SECONDS } from './voice-cache.js';
export type { VoiceRequest } from './voice-cache.js';
export { JobQueues, QUEUE_NAMES } from './job-queues.js';
export type {
  QueueName,
  JobPayloads,
  IngestionJobData,
  ErasureJobData,
  EnqueueOptions,
  JobContext,
  JobProcessor,
  WorkerOptions,
  WorkerHandle,
  DeadLetterEntry,
  JobReconciler,
  MaintenanceJobData,
  JobSchedule,
  JobScheduleInfo,
} from './job-queues.js';
export { checkRedisForQueues } from './check-redis-for-queues.js';
export type { RedisQueueReadiness } from './check-redis-for-queues.js';
export { TaggedKeyScanner } from './tagged-key-scanner.js';
export type { KeyTag } from './tagged-key-scanner.js';
export { SessionCacheBreaker } from './session-cache-breaker.js';
export type { SessionCacheBreakerState, RevocationReplay } from './session-cache-breaker.js';
