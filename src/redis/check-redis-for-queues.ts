import { withRedisErrors } from './map-redis-error.js';
import type { RedisConnection } from './redis-connection.js';

export interface RedisQueueReadiness {
  readonly ok: boolean;
  readonly maxmemoryPolicy: string | undefined;
  readonly version: string | undefined;
  /** One line each; empty when ok. */
  readonly warnings: readonly string[];
}

/**
 * Checks what BullMQ needs of the server: `maxmemory-policy noeviction`
 * (any evicting policy can silently drop queue keys, i.e. lose jobs) and
 * Redis ≥ 6.2. Reads `INFO` rather than `CONFIG GET`, which managed Redis
 * offerings often disable. For the bootstrap command.
 *
 * @throws StoreUnavailableError when Redis cannot be reached.
 */
export async function checkRedisForQueues(connection: RedisConnection): Promise<RedisQueueReadiness> {
  const info = await withRedisErrors(() => connection.client.info());
  const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
  const maxmemoryPolicy = field('maxmemory_policy');
  const version = field('redis_version');
  const warnings: string[] = [];
  if (maxmemoryPolicy !== 'noeviction') {
    warnings.push(`maxmemory-policy is "${maxmemoryPolicy ?? 'unknown'}": set it to noeviction, or queue keys may be evicted and jobs lost`);
  }
  const [major = 0, minor = 0] = (version ?? '0.0').split('.').map(Number);
  if (major < 6 || (major === 6 && minor < 2)) warnings.push(`Redis ${version ?? 'unknown'} is older than 6.2, the minimum BullMQ supports`);
  return { ok: warnings.length === 0, maxmemoryPolicy, version, warnings };
}
