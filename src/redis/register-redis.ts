import type { DependencyContainer } from 'tsyringe';
import { RedisConnection } from './redis-connection.js';

/** Registers the Redis connection and its services in `container`. */
export function registerRedis(container: DependencyContainer): void {
  container.registerSingleton(RedisConnection);
}
