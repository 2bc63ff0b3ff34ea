import type { Logger } from '../../logger.js';

/** Work started after answering (lookups and mail that must not show in the response or its timing). */
export interface BackgroundWork {
  /** Starts `work`; a failure is logged, never thrown (the caller has answered already). */
  run(work: () => Promise<void>): void;
  /** Resolves when every started piece of work has finished, including work started meanwhile. */
  settled(): Promise<void>;
}

/** A {@link BackgroundWork} that logs a failure as `failureMessage`. */
export function backgroundWork(logger: Logger, failureMessage: string): BackgroundWork {
  const pending = new Set<Promise<void>>();
  return {
    run(work) {
      const running = work()
        .catch((error: unknown) => logger.error(failureMessage, { error }))
        .finally(() => pending.delete(running));
      pending.add(running);
    },
    async settled() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };
}
