import { readFile, rename, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { listenOn } from './listen-on.js';
import { CollectionStore } from './qdrant/collection-store.js';
import { stringifyJson } from './qdrant/json-codec.js';
import { createQdrantRequestHandler } from './qdrant/qdrant-request-handler.js';

/** Options for {@link QdrantStandIn.start}. */
export interface QdrantStandInOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  readonly host?: string;
  /** Port to listen on; 0 (the default) picks a free one. */
  readonly port?: number;
  /**
   * Require this key in the `api-key` header (or `Authorization: Bearer`),
   * answering 401 like Qdrant otherwise.
   * @example await QdrantStandIn.start({ apiKey: 'secret' })
   */
  readonly apiKey?: string;
  /**
   * JSON file the data is loaded from on start (if it exists) and saved to on stop.
   * @example await QdrantStandIn.start({ snapshotPath: '.data/qdrant.json' })
   */
  readonly snapshotPath?: string;
}

/**
 * The Qdrant release whose REST answers the stand-in is held to (its OpenAPI
 * document and the conformance suite, docs/testing.md) — reported by `GET /`
 * as a real server reports its own version, whatever client is installed.
 */
const QDRANT_STAND_IN_SERVER_VERSION = '1.19.0';

async function loadStore(snapshotPath: string | undefined): Promise<CollectionStore> {
  if (snapshotPath === undefined) return new CollectionStore();
  let text: string;
  try {
    text = await readFile(snapshotPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new CollectionStore();
    throw error;
  }
  return CollectionStore.fromSnapshot(text);
}

/**
 * An in-memory server speaking enough of Qdrant's REST API for
 * `@qdrant/js-client-rest` over a real socket: collections, payload indexes,
 * points, filters, scroll, count and exact (brute-force) `query`.
 *
 * @example
 * await using qdrant = await QdrantStandIn.start();
 * const client = new QdrantClient({ url: qdrant.url });
 */
export class QdrantStandIn {
  /** Base URL such as `http://127.0.0.1:54321`. */
  readonly url: string;
  readonly #server: Server;
  readonly #store: CollectionStore;
  readonly #snapshotPath: string | undefined;
  #stopping: Promise<void> | undefined;

  private constructor(server: Server, store: CollectionStore, url: string, snapshotPath: string | undefined) {
    this.#server = server;
    this.#store = store;
    this.url = url;
    this.#snapshotPath = snapshotPath;
  }

  /**
   * Starts listening.
   * @throws {Error} when the port is taken or the snapshot file is unreadable or malformed.
   */
  static async start(options: QdrantStandInOptions = {}): Promise<QdrantStandIn> {
    const host = options.host ?? '127.0.0.1';
    const store = await loadStore(options.snapshotPath);
    const server = createServer(
      createQdrantRequestHandler({ store, version: QDRANT_STAND_IN_SERVER_VERSION, ...(options.apiKey === undefined ? {} : { apiKey: options.apiKey }) }),
    );
    const port = await listenOn(server, options.port ?? 0, host);
    const shownHost = host.includes(':') ? `[${host}]` : host;
    return new QdrantStandIn(server, store, `http://${shownHost}:${port}`, options.snapshotPath);
  }

  /**
   * Stops listening (dropping idle keep-alive connections) and writes the
   * snapshot if configured. Safe to call more than once.
   * @throws {Error} when the snapshot cannot be written.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await new Promise<void>((resolve, reject) => {
        this.#server.close((error) => (error ? reject(error) : resolve()));
        this.#server.closeIdleConnections();
      });
      if (this.#snapshotPath !== undefined) {
        const temporary = `${this.#snapshotPath}.${process.pid}.tmp`;
        await writeFile(temporary, stringifyJson(this.#store.toSnapshot()));
        await rename(temporary, this.#snapshotPath);
      }
    })();
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
