import { connect } from 'node:net';
import mongoose, { type Connection } from 'mongoose';
import { inject, injectable } from 'tsyringe';
import type { Config } from '../config.js';
import { PlatformError, StoreUnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import { redactUrl } from '../redact-url.js';
import { storeUnavailable, type StoreConnection, type StoreHealth } from '../store-connection.js';
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
    return storeUnavailable('mongo', mapped, this.redactedUrl, error);
  }

  /** @throws StoreUnavailableError */
  async start(): Promise<void> {
    if (this.#connection) return;
    const timeout = this.config.connectTimeoutMs;
    // The driver waits out server selection on a refused port; a refused TCP connect to every seed answers at once.
    if (await allSeedsRefuse(this.config.mongo.uri, timeout)) {
      throw new StoreUnavailableError('mongo', 'connection refused by every host of the URI (ECONNREFUSED)', { url: this.redactedUrl, reason: 'refused' });
    }
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
      await withTimeout(
        connection.asPromise(),
        timeout + 500,
        () => new StoreUnavailableError('mongo', `no answer within ${timeout} ms`, { url: this.redactedUrl }),
      );
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

/** The seed list of a `mongodb://` URI (none for `mongodb+srv://`, which DNS resolves). */
function seedsOf(uri: string): Array<{ host: string; port: number }> {
  const match = /^mongodb:\/\/(?:[^@/]*@)?([^/?]+)/.exec(uri);
  if (!match?.[1]) return [];
  return match[1].split(',').flatMap((seed) => {
    const parsed = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(seed.trim());
    if (!parsed?.[1]) return [];
    return [{ host: parsed[1].replace(/^\[|\]$/g, ''), port: parsed[2] ? Number(parsed[2]) : 27017 }];
  });
}

/** True only when every seed answered a TCP connect with a refusal (anything else leaves the verdict to the driver). */
async function allSeedsRefuse(uri: string, timeoutMs: number): Promise<boolean> {
  const seeds = seedsOf(uri);
  if (seeds.length === 0) return false;
  const refused = await Promise.all(
    seeds.map(
      ({ host, port }) =>
        new Promise<boolean>((resolve) => {
          const socket = connect({ host, port });
          const finish = (value: boolean) => {
            clearTimeout(timer);
            socket.destroy();
            resolve(value);
          };
          const timer = setTimeout(() => finish(false), Math.min(timeoutMs, 1_000));
          socket.once('connect', () => finish(false));
          socket.once('error', (error: NodeJS.ErrnoException) => finish(error.code === 'ECONNREFUSED'));
        }),
    ),
  );
  return refused.every(Boolean);
}
