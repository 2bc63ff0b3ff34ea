import { inject, injectable } from 'tsyringe';
import type { ProvisionStep, StoreProvisioner } from '../store-provisioner.js';
import { checkRedisForQueues } from './check-redis-for-queues.js';
import { RedisConnection } from './redis-connection.js';

/**
 * Redis needs no schema; provisioning checks what the queues rely on
 * (version, `maxmemory-policy noeviction`) and reports findings as warnings.
 * It never changes server configuration.
 */
@injectable()
export class RedisProvisioner implements StoreProvisioner {
  readonly store = 'redis' as const;

  constructor(@inject(RedisConnection) private readonly connection: RedisConnection) {}

  async provision(onStep: (step: ProvisionStep) => void = () => undefined): Promise<ProvisionStep[]> {
    const readiness = await checkRedisForQueues(this.connection);
    const step: ProvisionStep = {
      store: this.store,
      step: 'queue readiness',
      changed: false,
      detail: `Redis ${readiness.version ?? '?'}, maxmemory-policy ${readiness.maxmemoryPolicy ?? '?'}`,
      ...(readiness.warnings.length > 0 ? { warning: readiness.warnings.join('; ') } : {}),
    };
    onStep(step);
    return [step];
  }

  /** Nothing is ever missing: the eviction policy is a warning, not a pending change. */
  async pending(): Promise<string[]> {
    return [];
  }
}
