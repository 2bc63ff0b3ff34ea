import { Redis, type RedisOptions } from 'ioredis';
import { inject, injectable } from 'tsyringe';
import type { Config } from '../config.js';
import { PlatformError, StoreUnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import { redactUrl } from '../redact-url.js';
import type { StoreConnection, StoreHealth } from '../store-connection.js';
import { CONFIG, LOGGER } from '../tokens.js';
import { withTimeout } from '../with-timeout.js';
import { mapRedisError } from './map-redis-error.js';

/** Parses `INFO` output into a flat record. */
function parseInfo(info: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of info.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
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
  #client: Redis | undefined;
  readonly #extra = new Set<Redis>();

  constructor(
    @inject(CONFIG) private readonly config: Config,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  get redactedUrl(): string {
    return redactUrl(this.config.redis.url);
  }

  /** The key prefix every key of this package starts with. */
  get keyPrefix(): string {
    return this.config.redis.keyPrefix;
  }

  /** @throws PlatformError when not started */
  get client(): Redis {
    if (!this.#client) throw new PlatformError('NOT_STARTED', 'RedisConnection is not started');
    return this.#client;
  }

  #options(): RedisOptions {
    const timeout = this.config.connectTimeoutMs;
    return {
      lazyConnect: true,
      connectTimeout: timeout,
      commandTimeout: this.commandTimeoutMs,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: true,
      retryStrategy: (times) => Math.min(50 * 2 ** times, 2_000),
    };
  }

  #unavailable(error: unknown): StoreUnavailableError {
    const mapped = mapRedisError(error, this.redactedUrl);
    return mapped instanceof StoreUnavailableError
      ? mapped
      : new StoreUnavailableError('redis', mapped.message, { url: this.redactedUrl, cause: error });
  }

  /** @throws StoreUnavailableError */
  async start(): Promise<void> {
    if (this.#client) return;
    const client = new Redis(this.config.redis.url, this.#options());
    // ioredis rejects connect() with a bare "Connection is closed."; the socket error before it names the cause.
    let socketError: NodeJS.ErrnoException | undefined;
    client.on('error', (error: NodeJS.ErrnoException) => {
      socketError ??= error;
      this.logger.debug('redis connection error', { error: this.#unavailable(error).message });
    });
    try {
      await withTimeout(client.connect(), this.config.connectTimeoutMs, () => new StoreUnavailableError('redis', `no answer within ${this.config.connectTimeoutMs} ms`, { url: this.redactedUrl }));
    } catch (error) {
      client.disconnect();
      if (socketError?.code === 'ECONNREFUSED') {
        throw new StoreUnavailableError('redis', `connection refused (${socketError.message})`, { url: this.redactedUrl, cause: socketError, reason: 'refused' });
      }
      throw this.#unavailable(error);
    }
    this.#client = client;
    await this.ping();
  }

  /** Bound on one command (ioredis `commandTimeout`): REDIS_COMMAND_TIMEOUT_MS. Callers of the blocking connection apply it themselves. */
  get commandTimeoutMs(): number {
    return this.config.redis.commandTimeoutMs;
  }

  /**
   * A new connection for blocking commands and BullMQ (`maxRetriesPerRequest: null`),
   * closed by `stop()`.
   */
  createBlockingConnection(): Redis {
    const connection = new Redis(this.config.redis.url, { maxRetriesPerRequest: null, connectTimeout: this.config.connectTimeoutMs });
    connection.on('error', (error: unknown) => this.logger.debug('redis (blocking) connection error', { error: this.#unavailable(error).message }));
    this.#extra.add(connection);
    connection.once('end', () => this.#extra.delete(connection));
    return connection;
  }

  /** @throws StoreUnavailableError */
  async ping(): Promise<void> {
    await withTimeout(this.client.ping(), this.config.connectTimeoutMs, () => new StoreUnavailableError('redis', `no answer within ${this.config.connectTimeoutMs} ms`, { url: this.redactedUrl })).catch(
      (error: unknown) => {
        throw this.#unavailable(error);
      },
    );
  }

  async health(): Promise<StoreHealth> {
    const started = performance.now();
    try {
      const raw = await withTimeout(this.client.info(), this.config.connectTimeoutMs, () => new StoreUnavailableError('redis', 'no answer', { url: this.redactedUrl }));
      const latencyMs = performance.now() - started;
      const info = parseInfo(raw);
      return {
        store: 'redis',
        status: 'up',
        latencyMs,
        version: info.redis_version,
        url: this.redactedUrl,
        details: { usedMemory: Number(info.used_memory ?? 0), maxmemoryPolicy: info.maxmemory_policy },
      };
    } catch (error) {
      return { store: 'redis', status: 'down', latencyMs: undefined, version: undefined, url: this.redactedUrl, error: this.#unavailable(error).message };
    }
  }

  async stop(): Promise<void> {
    const clients = [this.#client, ...this.#extra].filter((c): c is Redis => c !== undefined);
    this.#client = undefined;
    this.#extra.clear();
    await Promise.allSettled(clients.map(async (c) => {
      if (c.status === 'ready') await c.quit();
      else c.disconnect();
    }));
  }
}
