import { StoreUnavailableError, type PlatformError, type StoreName } from './errors.js';

/**
 * What a connection reports for a driver error its store's mapper turned into
 * `mapped`: `mapped` itself when it already says the store is unavailable (it
 * may carry a reason), else a StoreUnavailableError with its message.
 */
export function storeUnavailable(store: StoreName, mapped: PlatformError, url: string, cause: unknown): StoreUnavailableError {
  return mapped instanceof StoreUnavailableError ? mapped : new StoreUnavailableError(store, mapped.message, { url, cause });
}

/** One server behind a store connection, when there is more than one (Redis Cluster, a PostgreSQL standby, a pooler). */
export interface StoreNodeHealth {
  /** `host:port`. */
  readonly address: string;
  /** Redis Cluster `master`/`replica`; PostgreSQL `primary`/`standby`; `pooler` for PgBouncer. */
  readonly role: 'master' | 'replica' | 'primary' | 'standby' | 'pooler';
  readonly status: 'up' | 'down';
  /** One line: slots served, replication lag, pool mode, or the error when down. */
  readonly detail?: string;
}

export interface StoreHealth {
  readonly store: StoreName;
  readonly status: 'up' | 'down';
  readonly latencyMs: number | undefined;
  readonly version: string | undefined;
  /** Redacted URL of the store. */
  readonly url: string;
  /** Set when down: one line, no secrets. */
  readonly error?: string;
  /** Whether provisioning is complete (undefined when the store is down or has no provisioner). */
  readonly provisioned?: boolean;
  /** What provisioning would still do (pending migrations, missing collections or indexes). */
  readonly pending?: readonly string[];
  /** Store-specific facts (pool state, memory, pending migrations …). */
  readonly details?: Record<string, unknown>;
  /** Each server's role and state, when the store is more than one server (set only then). */
  readonly nodes?: readonly StoreNodeHealth[];
}

/** The face every store connection shows: connect, ping, health, close. */
export interface StoreConnection {
  readonly store: StoreName;
  /** Connects (bounded by the configured timeout). @throws StoreUnavailableError */
  start(): Promise<void>;
  /** One round trip to the server. @throws StoreUnavailableError */
  ping(): Promise<void>;
  health(): Promise<StoreHealth>;
  /** Closes everything; idempotent. */
  stop(): Promise<void>;
}
