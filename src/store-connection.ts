import type { StoreName } from './errors.js';

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
