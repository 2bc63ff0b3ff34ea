/**
 * The steps, in order, for both kinds of subject. Sessions go first so the
 * subject is locked out before anything else happens; Redis runs before
 * Postgres because the login-throttle key is derived from the email, which
 * only Postgres knows; Postgres goes last so a crash anywhere leaves the
 * request (and the subject's row, which the earlier steps may need) in place.
 */
export const ERASURE_STEPS = ['sessions', 'mongo', 'qdrant', 'redis', 'postgres'] as const;
export type ErasureStep = (typeof ERASURE_STEPS)[number];

/** Where a step is when {@link ErasureFlowOptions.onStep} is called. */
export interface ErasureStepEvent {
  readonly requestId: string;
  readonly step: ErasureStep;
  /** `applied`: the step's deletes are done, not yet recorded; `recorded`: marked done in Postgres, next step not yet enqueued. */
  readonly phase: 'applied' | 'recorded';
}

export interface ErasureFlowOptions {
  /** Attempts per step job before it is dead-lettered (the reconciler revives it). Default 5. */
  readonly attempts: number;
  /** First retry delay, doubled per attempt. Default 1000 ms. */
  readonly backoffMs: number;
  /** Observation point between a step's effects and its bookkeeping (tests use it to simulate a crash there). */
  readonly onStep?: (event: ErasureStepEvent) => void | Promise<void>;
  /**
   * Lease on a running step, renewed by a heartbeat every third of it; a worker killed mid-step
   * loses the step this long after its last heartbeat. Default 15 000 ms.
   */
  readonly leaseMs?: number;
  /** How often a started worker sweeps for steps nobody holds (expired lease, or pending this long). Default 5 000 ms. */
  readonly sweepEveryMs?: number;
}

export const DEFAULT_ERASURE_FLOW_OPTIONS: ErasureFlowOptions = { attempts: 5, backoffMs: 1_000, leaseMs: 15_000, sweepEveryMs: 5_000 };

/** What a step did (counts, flags), recorded on its request. */
export type ErasureStepResult = Record<string, number | string | boolean>;
