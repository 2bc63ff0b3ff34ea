import type { DependencyContainer } from 'tsyringe';
import { CacheAside } from './repositories/cache-aside.js';
import { JobQueues } from './job-queues.js';
import { LoginThrottle } from './repositories/login-throttle.js';
import { RateLimiter } from './repositories/rate-limiter.js';
import { RedisConnection } from './redis-connection.js';
import { RedisKeys } from './redis-keys.js';
import { RedisProvisioner } from './redis-provisioner.js';
import { PROVISIONER } from '../tokens.js';
import { SessionCache } from './repositories/session-cache.js';
import { SessionCacheBreaker } from './repositories/session-cache-breaker.js';
import { TaggedKeyScanner } from './repositories/tagged-key-scanner.js';
import { VoiceCache } from './repositories/voice-cache.js';

/** Registers the Redis connection and its services in `container` (singletons: they hold no per-request state). */
export function registerRedis(container: DependencyContainer): void {
  container.registerSingleton(RedisConnection);
  container.registerSingleton(RedisKeys);
  container.registerSingleton(SessionCacheBreaker);
  container.registerSingleton(SessionCache);
  container.registerSingleton(RateLimiter);
  container.registerSingleton(LoginThrottle);
  container.registerSingleton(CacheAside);
  container.registerSingleton(VoiceCache);
  container.registerSingleton(TaggedKeyScanner);
  container.registerSingleton(JobQueues);
  container.registerSingleton(RedisProvisioner);
  container.register(PROVISIONER, { useToken: RedisProvisioner });
}
