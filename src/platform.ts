import 'reflect-metadata';
import { container as rootContainer, type DependencyContainer, type InjectionToken } from 'tsyringe';
import type { Config } from './config.js';
import type { StoreName } from './errors.js';
import { Lifecycle } from './lifecycle.js';
import { createLogger } from './logger.js';
import { MongoConnection } from './mongo/mongo-connection.js';
import { registerMongo } from './mongo/register-mongo.js';
import { PostgresConnection } from './postgres/postgres-connection.js';
import { registerPostgres } from './postgres/register-postgres.js';
import { QdrantConnection } from './qdrant/qdrant-connection.js';
import { registerQdrant } from './qdrant/register-qdrant.js';
import { RedisConnection } from './redis/redis-connection.js';
import { registerRedis } from './redis/register-redis.js';
import { registerFlows } from './flows/register-flows.js';
import { registerSecurity } from './security/register-security.js';
import type { StoreConnection, StoreHealth } from './store-connection.js';
import { applyPlatformOptions, STORE_NAMES, type PlatformOptions } from './platform-options.js';
import { CONFIG, LIFECYCLE, LOGGER, PROVISIONER } from './tokens.js';

export interface PlatformHealth {
  readonly status: 'up' | 'down';
  readonly stores: readonly StoreHealth[];
}

const CONNECTIONS: Record<StoreName, InjectionToken<StoreConnection>> = {
  postgres: PostgresConnection,
  mongo: MongoConnection,
  qdrant: QdrantConnection,
  redis: RedisConnection,
};

/**
 * The wired platform: a tsyringe child container holding the configuration,
 * the four store connections and every repository and flow.
 */
export class Platform implements AsyncDisposable {
  readonly container: DependencyContainer;
  /** The configuration in effect (`PlatformOptions.sessions` applied). */
  readonly config: Config;
  readonly stores: readonly StoreName[];
  #state: 'new' | 'started' | 'stopped' = 'new';
  #stopping: Promise<void> | undefined;

  /** @throws ValidationError naming every invalid option (see `platformOptionsSchema`) */
  constructor(config: Config, options: PlatformOptions = {}) {
    this.config = config;
    this.stores = options.stores ?? STORE_NAMES;
    this.container = rootContainer.createChildContainer();
    this.container.registerInstance(CONFIG, config);
    this.container.registerInstance(LOGGER, createLogger(config.logLevel));
    this.container.registerInstance(LIFECYCLE, new Lifecycle());
    registerSecurity(this.container);
    registerPostgres(this.container);
    registerMongo(this.container);
    registerQdrant(this.container);
    registerRedis(this.container);
    registerFlows(this.container);
    applyPlatformOptions(this.container, options);
    this.config = this.container.resolve(CONFIG);
  }

  /** Resolves anything registered: connections, repositories, flows. */
  resolve<T>(token: InjectionToken<T>): T {
    return this.container.resolve(token);
  }

  connection(store: StoreName): StoreConnection {
    return this.container.resolve(CONNECTIONS[store]);
  }

  /**
   * Connects the selected stores in parallel.
   * @throws StoreUnavailableError for the first store that cannot be reached (the others are closed again).
   */
  async start(): Promise<void> {
    if (this.#state === 'started') return;
    if (this.#state === 'stopped') throw new Error('A stopped platform cannot be started again; create a new one');
    const results = await Promise.allSettled(this.stores.map((s) => this.connection(s).start()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.allSettled(this.stores.map((s) => this.connection(s).stop()));
      this.#state = 'stopped';
      throw failed.reason;
    }
    this.#state = 'started';
  }

  /**
   * Per-store health: up/down, latency, server version and whether the store
   * is provisioned (pending migrations, missing collections or indexes).
   * `status` is `up` only when every store is up and provisioned. Never throws.
   */
  async health(): Promise<PlatformHealth> {
    const provisioners = this.container.isRegistered(PROVISIONER, true) ? this.container.resolveAll(PROVISIONER) : [];
    const stores = await Promise.all(
      this.stores.map(async (s): Promise<StoreHealth> => {
        const health = await this.connection(s).health();
        const provisioner = provisioners.find((p) => p.store === s);
        if (health.status !== 'up' || !provisioner) return health;
        const pending = await provisioner.pending().catch((error: unknown) => [`cannot inspect: ${error instanceof Error ? error.message : String(error)}`]);
        return { ...health, provisioned: pending.length === 0, pending };
      }),
    );
    return { status: stores.every((s) => s.status === 'up' && s.provisioned !== false) ? 'up' : 'down', stores };
  }

  /** Flushes services (stop hooks), then closes every connection. Idempotent. */
  async stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const logger = this.container.resolve(LOGGER);
      const failures = await this.container.resolve(LIFECYCLE).runStopHooks();
      for (const f of failures) logger.error('stop hook failed', { hook: f.name, error: f.error });
      await Promise.allSettled(this.stores.map((s) => this.connection(s).stop()));
      this.#state = 'stopped';
    })();
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/**
 * Creates (does not start) a platform.
 *
 * @example
 * await using platform = createPlatform(loadConfig());
 * await platform.start();
 * console.log(await platform.health());
 */
export function createPlatform(config: Config, options?: PlatformOptions): Platform {
  return new Platform(config, options);
}
