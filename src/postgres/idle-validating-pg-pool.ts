import pg from 'pg';
import { StaleConnectionError } from './idle-validating-driver-factory.js';

type ConnectCallback = (error: Error | undefined, client: pg.PoolClient | undefined, done: (release?: Error | boolean) => void) => void;

/**
 * pg's Pool with the same validation of idle connections on checkout as the
 * Slonik pools ({@link idleValidatingDriverFactory}): a client that rested at
 * least `afterMs` answers `SELECT 1` within `timeoutMs` before it is handed out,
 * or it is discarded and another one is taken (at most one more attempt than the
 * pool has connections: after a server restart every idle client is dead).
 * `pool.query()` goes through `connect()`, so every hot-path read is covered.
 */
export class IdleValidatingPgPool extends pg.Pool {
  readonly #releasedAt = new WeakMap<pg.PoolClient, number>();
  readonly #validation: { readonly afterMs: number; readonly timeoutMs: number; readonly url: string };

  constructor(config: pg.PoolConfig & { max: number }, validation: { readonly afterMs: number; readonly timeoutMs: number; readonly url: string }) {
    super(config);
    this.#validation = validation;
    this.on('release', (_error: Error | undefined, client: pg.PoolClient) => this.#releasedAt.set(client, Date.now()));
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | undefined {
    if (!callback) return this.#checkedOut();
    // pg-pool's own query() calls connect() with a callback. A client used within `afterMs` (every one, under
    // load) goes straight back to it: no promise hops on the hot path; only one that rested is checked first.
    super.connect((error: Error | null | undefined, client: pg.PoolClient | undefined) => {
      if (error instanceof Error || client === undefined) {
        callback(error ?? new Error('pg-pool handed out no client'), undefined, () => undefined);
      } else if (!this.#rested(client)) {
        callback(undefined, client, (release) => client.release(release));
      } else {
        void this.#handOverChecked(client, callback);
      }
    });
    return undefined;
  }

  /** Validates a client that rested (or takes others), then hands it to pg-pool's callback. */
  async #handOverChecked(client: pg.PoolClient, callback: ConnectCallback): Promise<void> {
    let checked: pg.PoolClient;
    try {
      checked = await this.#checkedOut(client);
    } catch (error) {
      callback(error instanceof Error ? error : new Error(String(error)), undefined, () => undefined);
      return;
    }
    callback(undefined, checked, (release) => checked.release(release));
  }

  /** True when `client` rested in the pool at least `afterMs` since its last release (a new client never did). */
  #rested(client: pg.PoolClient): boolean {
    const releasedAt = this.#releasedAt.get(client);
    return releasedAt !== undefined && Date.now() - releasedAt >= this.#validation.afterMs;
  }

  /** A checked client: `first` (already checked out) or the pool's next, validated when it rested. */
  async #checkedOut(first?: pg.PoolClient): Promise<pg.PoolClient> {
    const attempts = (this.options.max ?? 10) + 1;
    for (let attempt = 1; ; attempt++) {
      const client = attempt === 1 && first !== undefined ? first : await super.connect();
      if (!this.#rested(client)) return client;
      // Checked out, the client has no 'error' listener of the pool's: without this one a close during the check would throw.
      const ignore = (): void => undefined;
      client.on('error', ignore);
      try {
        await client.query({ text: 'SELECT 1', query_timeout: this.#validation.timeoutMs } as pg.QueryConfig);
        client.off('error', ignore);
        return client;
      } catch (error) {
        client.release(error instanceof Error ? error : true);
        if (attempt >= attempts) {
          throw new StaleConnectionError('postgres', `an idle pooled connection failed its check before use: ${String(error)}`, {
            url: this.#validation.url,
            cause: error,
          });
        }
      }
    }
  }
}
