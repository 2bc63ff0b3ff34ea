import type { StoreName } from './errors.js';

/** One provisioning step and whether it changed anything. */
export interface ProvisionStep {
  readonly store: StoreName;
  readonly step: string;
  readonly changed: boolean;
  readonly detail?: string;
  /** A non-fatal finding (e.g. Redis eviction policy). */
  readonly warning?: string;
}

/**
 * Provisioning of one store: idempotent and safe to run from two processes at
 * once (advisory locks, create-if-missing with conflicts treated as done).
 */
export interface StoreProvisioner {
  readonly store: StoreName;
  /** Brings the store to the shape this package needs; returns every step with `changed`. */
  provision(onStep?: (step: ProvisionStep) => void): Promise<ProvisionStep[]>;
  /** What is missing (pending migrations, collections, indexes); empty when provisioned. */
  pending(): Promise<string[]>;
}
