import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { inject, injectable } from 'tsyringe';
import type { Config } from '../config.js';
import { PlatformError, StoreUnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import { redactUrl } from '../redact-url.js';
import { storeUnavailable, type StoreConnection, type StoreHealth, type StoreNodeHealth } from '../store-connection.js';
import { CONFIG, LOGGER } from '../tokens.js';
import { withTimeout } from '../with-timeout.js';
import { mapRedisError } from './map-redis-error.js';
import { applySharedCommandTimeout } from './shared-command-timeout.js';

/** Parses `INFO` output into a flat record. */
function parseInfo(info: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of info.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** What every Redis user of the package talks to: one node (`Redis`) or a Redis Cluster (`Cluster`), per `REDIS_CLUSTER_NODES`. */
export type RedisClient = Redis | Cluster;

/**
 * One line of `CLUSTER NODES` (https://redis.io/docs/latest/commands/cluster-nodes/):
 * `<id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent> <pong-recv> <config-epoch> <link-state> <slot> …`.
 */
export function parseClusterNodes(text: string): StoreNodeHealth[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const addresses = new Map<string, string>();
  const rows = lines.map((line) => {
    const [id = '', endpoint = '', flags = '', master = '-', , , , link = '', ...slots] = line.split(' ');
    const address = endpoint.split('@')[0] ?? endpoint;
    addresses.set(id, address);
    return { flags: flags.split(','), master, link, slots, address };
  });
  return rows
    .filter((r) => !r.flags.includes('handshake') && !r.flags.includes('noaddr'))
    .map((r): StoreNodeHealth => {
      const failing = r.flags.includes('fail') || r.flags.includes('fail?') || (!r.flags.includes('myself') && r.link !== 'connected');
      const role = r.flags.includes('master') ? 'master' : 'replica';
      const detail = role === 'master' ? `slots ${r.slots.join(' ') || 'none'}` : `replica of ${addresses.get(r.master) ?? r.master}`;
      return {
        address: r.address,
        role,
        status: failing ? 'down' : 'up',
        detail: failing ? `${detail} (${r.flags.filter((f) => f.startsWith('fail')).join(',') || r.link})` : detail,
      };
    })
    .sort((a, b) => a.address.localeCompare(b.address, 'en', { numeric: true }));
}

/**
 * Redis through ioredis. `client` fails fast when Redis is down (no offline
 * queue, bounded command timeout) so callers get StoreUnavailableError instead
 * of a hang; `createBlockingConnection()` gives BullMQ the connection it needs
 * (`maxRetriesPerRequest: null`).
 */
@injectable()
export class RedisConnection implements StoreConnection {
  readonly store = 'redis' as const;
  #client: RedisClient | undefined;
  readonly #extra = new Set<RedisClient>();

  constructor(
    @inject(CONFIG) private readonly config: Config,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  get redactedUrl(): string {
    const nodes = this.config.redis.clusterNodes;
    return nodes
      ? `redis-cluster://${nodes.map((n) => `${n.host.includes(':') ? `[${n.host}]` : n.host}:${n.port}`).join(',')}`
      : redactUrl(this.config.redis.url);
  }

  /** True when `REDIS_CLUSTER_NODES` is set: `client` is an ioredis `Cluster`. */
  get isCluster(): boolean {
    return this.config.redis.clusterNodes !== undefined;
  }

  /** The key prefix every key of this package starts with. */
  get keyPrefix(): string {
    return this.config.redis.keyPrefix;
  }

  /** @throws PlatformError when not started */
  get client(): RedisClient {
    if (!this.#client) throw new PlatformError('NOT_STARTED', 'RedisConnection is not started');
    return this.#client;
  }

  #options(): RedisOptions {
    const timeout = this.config.connectTimeoutMs;
    return {
      lazyConnect: true,
      connectTimeout: timeout,
      // The command bound is applied by applySharedCommandTimeout (one timer per client, not one per command).
      maxRetriesPerRequest: 1,
      enableOfflineQueue: true,
      retryStrategy: (times) => Math.min(50 * 2 ** times, 2_000),
    };
  }

  /** Credentials and TLS of REDIS_URL, which apply to every node of a cluster. */
  #nodeOptions(): RedisOptions {
    const url = new URL(this.config.redis.url);
    return {
      username: url.username ? decodeURIComponent(url.username) : undefined,
      password: url.password ? decodeURIComponent(url.password) : undefined,
      tls: url.protocol === 'rediss:' ? {} : undefined,
      connectTimeout: this.config.connectTimeoutMs,
    };
  }

  /**
   * The one factory of Redis clients: a `Redis` on REDIS_URL, or a `Cluster` on
   * REDIS_CLUSTER_NODES with the same per-node options. On a cluster, a command
   * whose master is gone fails within the command bound (no offline queue wait
   * past it), so the session path falls back to PostgreSQL while the replica is promoted.
   */
  #create(options: RedisOptions, clusterOptions: Omit<ClusterOptions, 'redisOptions'> = {}): RedisClient {
    const nodes = this.config.redis.clusterNodes;
    if (!nodes) return new Redis(this.config.redis.url, options);
    return new Cluster(
      nodes.map((n) => ({ host: n.host, port: n.port })),
      {
        lazyConnect: options.lazyConnect,
        enableOfflineQueue: options.enableOfflineQueue ?? true,
        // Reads from masters only: a replica may lag behind a revocation (docs/scaling.md).
        scaleReads: 'master',
        slotsRefreshTimeout: this.config.connectTimeoutMs,
        // MOVED/ASK and CLUSTERDOWN during a failover: a few quick retries, then the caller's error path.
        maxRedirections: 16,
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        retryDelayOnTryAgain: 100,
        clusterRetryStrategy: (times) => Math.min(100 * 2 ** times, 2_000),
        ...clusterOptions,
        redisOptions: { ...this.#nodeOptions(), ...options, lazyConnect: false },
      },
    );
  }

  #unavailable(error: unknown): StoreUnavailableError {
    const mapped = mapRedisError(error, this.redactedUrl);
    return storeUnavailable('redis', mapped, this.redactedUrl, error);
  }

  /** @throws StoreUnavailableError */
  async start(): Promise<void> {
    if (this.#client) return;
    const client = this.#create(this.#options());
    applySharedCommandTimeout(client, this.commandTimeoutMs);
    // ioredis rejects connect() with a bare "Connection is closed."; the socket error before it names the cause.
    let socketError: NodeJS.ErrnoException | undefined;
    client.on('error', (error: NodeJS.ErrnoException) => {
      socketError ??= error;
      this.logger.debug('redis connection error', { error: this.#unavailable(error).message });
    });
    try {
      await withTimeout(
        client.connect(),
        this.config.connectTimeoutMs,
        () => new StoreUnavailableError('redis', `no answer within ${this.config.connectTimeoutMs} ms`, { url: this.redactedUrl }),
      );
    } catch (error) {
      client.disconnect();
      if (socketError?.code === 'ECONNREFUSED') {
        throw new StoreUnavailableError('redis', `connection refused (${socketError.message})`, {
          url: this.redactedUrl,
          cause: socketError,
          reason: 'refused',
        });
      }
      throw this.#unavailable(error);
    }
    this.#client = client;
    await this.ping();
  }

  /** Bound on one command (applySharedCommandTimeout): REDIS_COMMAND_TIMEOUT_MS. Callers of the blocking connection apply it themselves. */
  get commandTimeoutMs(): number {
    return this.config.redis.commandTimeoutMs;
  }

  /**
   * A new connection for blocking commands and BullMQ (`maxRetriesPerRequest: null`),
   * closed by `stop()`.
   */
  createBlockingConnection(): RedisClient {
    const connection = this.#create({ maxRetriesPerRequest: null, connectTimeout: this.config.connectTimeoutMs });
    connection.on('error', (error: unknown) => this.logger.debug('redis (blocking) connection error', { error: this.#unavailable(error).message }));
    this.#extra.add(connection);
    connection.once('end', () => this.#extra.delete(connection));
    return connection;
  }

  /** @throws StoreUnavailableError */
  async ping(): Promise<void> {
    await withTimeout(
      this.client.ping(),
      this.config.connectTimeoutMs,
      () => new StoreUnavailableError('redis', `no answer within ${this.config.connectTimeoutMs} ms`, { url: this.redactedUrl }),
    ).catch((error: unknown) => {
      throw this.#unavailable(error);
    });
  }

  async health(): Promise<StoreHealth> {
    const started = performance.now();
    try {
      const raw = await withTimeout(
        this.client.info(),
        this.config.connectTimeoutMs,
        () => new StoreUnavailableError('redis', 'no answer', { url: this.redactedUrl }),
      );
      const latencyMs = performance.now() - started;
      const info = parseInfo(raw);
      const cluster = this.#client instanceof Cluster ? await this.#clusterHealth(this.#client) : undefined;
      return {
        store: 'redis',
        status: cluster && cluster.state !== 'ok' ? 'down' : 'up',
        latencyMs,
        version: info.redis_version,
        url: this.redactedUrl,
        ...(cluster && cluster.state !== 'ok' ? { error: `cluster_state:${cluster.state}` } : {}),
        details: { usedMemory: Number(info.used_memory ?? 0), maxmemoryPolicy: info.maxmemory_policy, ...(cluster ? { clusterState: cluster.state } : {}) },
        ...(cluster ? { nodes: cluster.nodes } : {}),
      };
    } catch (error) {
      return { store: 'redis', status: 'down', latencyMs: undefined, version: undefined, url: this.redactedUrl, error: this.#unavailable(error).message };
    }
  }

  /** `CLUSTER INFO` and `CLUSTER NODES` as one reachable node sees them. */
  async #clusterHealth(cluster: Cluster): Promise<{ state: string; nodes: StoreNodeHealth[] }> {
    const bound = <T>(p: Promise<T>) =>
      withTimeout(p, this.config.connectTimeoutMs, () => new StoreUnavailableError('redis', 'no answer', { url: this.redactedUrl }));
    const [info, nodes] = await Promise.all([bound(cluster.cluster('INFO')), bound(cluster.cluster('NODES'))]);
    return { state: parseInfo(String(info)).cluster_state ?? 'unknown', nodes: parseClusterNodes(String(nodes)) };
  }

  async stop(): Promise<void> {
    const clients = [this.#client, ...this.#extra].filter((c): c is RedisClient => c !== undefined);
    this.#client = undefined;
    this.#extra.clear();
    await Promise.allSettled(
      clients.map(async (c) => {
        if (c.status === 'ready') await c.quit();
        else c.disconnect();
      }),
    );
  }
}
