import mongoose, { type Connection } from 'mongoose';
import { inject, injectable } from 'tsyringe';
import type { Config } from '../config.js';
import { PlatformError, StoreUnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import { redactUrl } from '../redact-url.js';
import type { StoreConnection, StoreHealth } from '../store-connection.js';
import { CONFIG, LOGGER } from '../tokens.js';
import { withTimeout } from '../with-timeout.js';
import { mapMongoError } from './map-mongo-error.js';

/**
 * MongoDB through a dedicated mongoose connection (`createConnection`, never
 * the global one). Indexes and collections are created by `provision()`, not at
 * model compile time (`autoIndex` and `autoCreate` are off).
 */
@injectable()
export class MongoConnection implements StoreConnection {
  readonly store = 'mongo' as const;
  #connection: Connection | undefined;

  constructor(
    @inject(CONFIG) private readonly config: Config,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  get redactedUrl(): string {
    return redactUrl(this.config.mongo.uri);
  }

  /** The mongoose connection. @throws PlatformError when not started */
  get connection(): Connection {
    if (!this.#connection) throw new PlatformError('NOT_STARTED', 'MongoConnection is not started');
    return this.#connection;
  }

  #unavailable(error: unknown): StoreUnavailableError {
    const mapped = mapMongoError(error, this.redactedUrl);
    return mapped instanceof StoreUnavailableError
      ? mapped
      : new StoreUnavailableError('mongo', mapped.message, { url: this.redactedUrl, cause: error });
  }

  /** @throws StoreUnavailableError */
  async start(): Promise<void> {
    if (this.#connection) return;
    const timeout = this.config.connectTimeoutMs;
    const connection = mongoose.createConnection(this.config.mongo.uri, {
      maxPoolSize: this.config.mongo.poolSize,
      serverSelectionTimeoutMS: timeout,
      connectTimeoutMS: timeout,
      socketTimeoutMS: Math.max(timeout * 6, 30_000),
      autoIndex: false,
      autoCreate: false,
    });
    // Without a listener, a failed background reconnect would be an unhandled 'error' event.
    connection.on('error', (error: unknown) => this.logger.warn('mongo connection error', { error: this.#unavailable(error).message }));
    try {
      await withTimeout(connection.asPromise(), timeout + 500, () => new StoreUnavailableError('mongo', `no answer within ${timeout} ms`, { url: this.redactedUrl }));
    } catch (error) {
      await connection.close(true).catch(() => undefined);
      throw this.#unavailable(error);
    }
    this.#connection = connection;
    this.logger.debug('mongo connected', { url: this.redactedUrl });
  }

  async #command(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    const db = this.connection.db;
    if (!db) throw new StoreUnavailableError('mongo', 'not connected', { url: this.redactedUrl });
    return withTimeout(
      db.admin().command(command),
      this.config.connectTimeoutMs,
      () => new StoreUnavailableError('mongo', `no answer within ${this.config.connectTimeoutMs} ms`, { url: this.redactedUrl }),
    ).catch((error: unknown) => {
      throw this.#unavailable(error);
    });
  }

  /** @throws StoreUnavailableError */
  async ping(): Promise<void> {
    await this.#command({ ping: 1 });
  }

  async health(): Promise<StoreHealth> {
    const started = performance.now();
    try {
      const info = await this.#command({ buildInfo: 1 });
      return { store: 'mongo', status: 'up', latencyMs: performance.now() - started, version: String(info.version), url: this.redactedUrl };
    } catch (error) {
      return { store: 'mongo', status: 'down', latencyMs: undefined, version: undefined, url: this.redactedUrl, error: this.#unavailable(error).message };
    }
  }

  async stop(): Promise<void> {
    const connection = this.#connection;
    this.#connection = undefined;
    await connection?.close(true).catch(() => undefined);
  }
}
