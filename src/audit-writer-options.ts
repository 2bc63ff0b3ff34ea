export interface AuditWriterOptions {
  /** Events held in memory at most; when full, `record()` waits for a flush instead of dropping. */
  readonly maxQueue: number;
  /** Events per INSERT; reaching it triggers a flush at once. */
  readonly maxBatch: number;
  /** A non-empty queue is flushed at the latest this long after its first event. */
  readonly flushIntervalMs: number;
  /**
   * INSERTs in flight at once (default 2). Batches then commit side by side on the server's cores
   * instead of one after another; each is still committed before the `flush()` that started it resolves.
   */
  readonly flushConcurrency?: number;
}

export const DEFAULT_AUDIT_WRITER_OPTIONS: AuditWriterOptions = Object.freeze({ maxQueue: 10_000, maxBatch: 500, flushIntervalMs: 250, flushConcurrency: 2 });
