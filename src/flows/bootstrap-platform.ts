import { PlatformError, StoreUnavailableError, type StoreName } from '../errors.js';
import type { Platform } from '../platform.js';
import type { ProvisionStep, StoreProvisioner } from '../store-provisioner.js';
import { PROVISIONER } from '../tokens.js';

export interface StoreBootstrapResult {
  readonly store: StoreName;
  readonly status: 'provisioned' | 'failed';
  /** True when any step changed something; false on a re-run. */
  readonly changed: boolean;
  readonly steps: readonly ProvisionStep[];
  readonly error?: string;
  /** The error of a failed store (not serialised: `error` is its message). */
  readonly cause?: unknown;
  readonly ms: number;
}

export interface BootstrapOptions {
  /** How long to wait for each store to answer, with backoff (default 30 s). */
  readonly waitMs?: number;
  readonly onEvent?: (event: { store: StoreName; phase: 'waiting' | 'connected' | 'step' | 'done' | 'failed'; step?: ProvisionStep; message?: string }) => void;
}

/** Resolves the provisioner registered for each store. */
export function provisionersOf(platform: Platform): Map<StoreName, StoreProvisioner> {
  const all = platform.container.isRegistered(PROVISIONER, true) ? platform.container.resolveAll(PROVISIONER) : [];
  return new Map(all.map((p) => [p.store, p]));
}

/**
 * Waits for each selected store (bounded, exponential backoff), then provisions
 * it idempotently. Stores are handled in parallel and independently: one store
 * failing does not stop the others, and every store is reported.
 */
export async function bootstrapPlatform(platform: Platform, options: BootstrapOptions = {}): Promise<StoreBootstrapResult[]> {
  const waitMs = options.waitMs ?? 30_000;
  const provisioners = provisionersOf(platform);
  const emit = options.onEvent ?? (() => undefined);
  return Promise.all(
    platform.stores.map(async (store): Promise<StoreBootstrapResult> => {
      const started = performance.now();
      const steps: ProvisionStep[] = [];
      try {
        const deadline = Date.now() + waitMs;
        for (let attempt = 0; ; attempt++) {
          try {
            await platform.connection(store).start();
            break;
          } catch (error) {
            // A missing database or refused credentials do not pass by waiting: fail at once.
            if (!(error instanceof StoreUnavailableError) || error.permanent || Date.now() + 200 > deadline) throw error;
            emit({ store, phase: 'waiting', message: error.message });
            await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 3_000, Math.max(0, deadline - Date.now()))));
          }
        }
        emit({ store, phase: 'connected' });
        const provisioner = provisioners.get(store);
        if (!provisioner) throw new PlatformError('NO_PROVISIONER', `no provisioner registered for ${store}`);
        await provisioner.provision((step) => {
          steps.push(step);
          emit({ store, phase: 'step', step });
        });
        emit({ store, phase: 'done' });
        return { store, status: 'provisioned', changed: steps.some((s) => s.changed), steps, ms: performance.now() - started };
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        emit({ store, phase: 'failed', message });
        const result = { store, status: 'failed' as const, changed: steps.some((s) => s.changed), steps, error: message, ms: performance.now() - started };
        // Non-enumerable, so JSON output stays as it was.
        return Object.defineProperty(result, 'cause', { value: error, enumerable: false });
      }
    }),
  );
}
