import { QdrantClient } from '@qdrant/js-client-rest';
import { inject, injectable } from 'tsyringe';
import type { Config } from '../config.js';
import { PlatformError, StoreUnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import { redactUrl } from '../redact-url.js';
import { storeUnavailable, type StoreConnection, type StoreHealth } from '../store-connection.js';
import { CONFIG, LOGGER } from '../tokens.js';
import { withTimeout } from '../with-timeout.js';
import { mapQdrantError } from './map-qdrant-error.js';

/** Qdrant through @qdrant/js-client-rest (REST; `query()` is the search API). */
@injectable()
export class QdrantConnection implements StoreConnection {
  readonly store = 'qdrant' as const;
  #client: QdrantClient | undefined;

  constructor(
    @inject(CONFIG) private readonly config: Config,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  get redactedUrl(): string {
    return redactUrl(this.config.qdrant.url);
  }

  /** @throws PlatformError when not started */
  get client(): QdrantClient {
    if (!this.#client) throw new PlatformError('NOT_STARTED', 'QdrantConnection is not started');
    return this.#client;
  }

  #unavailable(error: unknown): StoreUnavailableError {
    const mapped = mapQdrantError(error, this.redactedUrl);
    return storeUnavailable('qdrant', mapped, this.redactedUrl, error);
  }

  async #version(client: QdrantClient): Promise<string> {
    const info = await withTimeout(
      client.versionInfo(),
      this.config.connectTimeoutMs,
      () => new StoreUnavailableError('qdrant', `no answer within ${this.config.connectTimeoutMs} ms`, { url: this.redactedUrl }),
    ).catch((error: unknown) => {
      throw this.#unavailable(error);
    });
    return info.version;
  }

  /** @throws StoreUnavailableError */
  async start(): Promise<void> {
    if (this.#client) return;
    const client = new QdrantClient({
      url: this.config.qdrant.url,
      apiKey: this.config.qdrant.apiKey?.reveal(),
      timeout: Math.max(this.config.connectTimeoutMs * 6, 30_000),
      // Compatibility is reported by health(); the constructor's own check would print to the console.
      checkCompatibility: false,
    });
    await this.#version(client);
    this.#client = client;
    this.logger.debug('qdrant connected', { url: this.redactedUrl });
  }

  /** @throws StoreUnavailableError */
  async ping(): Promise<void> {
    await this.#version(this.client);
  }

  async health(): Promise<StoreHealth> {
    const started = performance.now();
    try {
      const version = await this.#version(this.client);
      return { store: 'qdrant', status: 'up', latencyMs: performance.now() - started, version, url: this.redactedUrl };
    } catch (error) {
      return { store: 'qdrant', status: 'down', latencyMs: undefined, version: undefined, url: this.redactedUrl, error: this.#unavailable(error).message };
    }
  }

  async stop(): Promise<void> {
    this.#client = undefined;
  }
}
