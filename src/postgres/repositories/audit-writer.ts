import { inject, injectable } from 'tsyringe';
import type { AuditWriterOptions } from '../../audit-writer-options.js';
import { z } from 'zod';
import { PlatformError } from '../../errors.js';
import type { Lifecycle } from '../../lifecycle.js';
import type { Logger } from '../../logger.js';
import { AUDIT_WRITER_OPTIONS, LIFECYCLE, LOGGER } from '../../tokens.js';
import { AuditRepository, type AuditEvent, type AuditEventInput } from './audit-repository.js';
import { parseInput } from '../../parse-input.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { timeOrderedUuid } from '../../time-ordered-uuid.js';

const optionsSchema = z
  .object({
    maxQueue: z.number().int().min(1).max(1_000_000),
    maxBatch: z.number().int().min(1).max(10_000),
    flushIntervalMs: z.number().int().min(1).max(60_000),
    // At most the hot-path pool's size (5), so a flush burst leaves it a connection.
    flushConcurrency: z.number().int().min(1).max(4).default(2),
  })
  .strict()
  .refine((o) => o.maxBatch <= o.maxQueue, { message: 'must not exceed maxQueue', path: ['maxBatch'] });

export interface AuditWriterStats {
  /** INSERT statements that succeeded (one per flushed batch). */
  readonly flushes: number;
  readonly written: number;
  /** INSERTs that failed; their events were put back at the head of the queue. */
  readonly failures: number;
  readonly queued: number;
}

/**
 * Batching audit writer: `record()` validates and queues, a flush writes up to
 * `maxBatch` events with ONE multi-row INSERT ({@link AuditRepository.append}).
 *
 * - Bounded: at `maxQueue` events `record()` awaits a flush (back-pressure), never drops.
 * - Timely: a queue is flushed `flushIntervalMs` after its first event, or at once at `maxBatch`.
 * - Durable on a clean stop: a LIFECYCLE stop hook flushes everything before the pools close.
 * - A failed INSERT puts its events back at the head of the queue (order kept) and is retried
 *   by the next flush; `record()` callers waiting on a full queue see the error. Each event
 *   carries its id from `record()`, so a retry of an INSERT that did commit (its answer lost)
 *   writes nothing twice.
 * - **Loss window**: events are in memory for up to `flushIntervalMs` (250 ms) or `maxBatch`
 *   events; a SIGKILL or OOM in that window loses them. So security events of a change
 *   (sign-in, refresh-token reuse) are written in the change's own transaction
 *   ({@link AuditRepository.appendWithin}); this writer is for high-volume events where
 *   that window is acceptable.
 *
 * @example
 * const audit = platform.resolve(AuditWriter);
 * await audit.record({ eventType: 'auth.login.succeeded', organizationId, actorUserId, riskScore: 10 });
 */
@injectable()
@accessControlled
export class AuditWriter {
  readonly #options: Required<AuditWriterOptions>;
  #queue: AuditEvent[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #inflight = new Set<Promise<void>>();
  #closed = false;
  #stats = { flushes: 0, written: 0, failures: 0 };

  /** @throws ValidationError naming the invalid option (`options.maxBatch` …) */
  constructor(
    @inject(AuditRepository) private readonly repository: AuditRepository,
    @inject(LIFECYCLE) lifecycle: Lifecycle,
    @inject(LOGGER) private readonly logger: Logger,
    @inject(AUDIT_WRITER_OPTIONS) options: AuditWriterOptions,
  ) {
    this.#options = parseInput(optionsSchema, options, 'options');
    lifecycle.onStop('audit-writer', () => this.close());
    repository.flushBeforeReadYourWrites(() => this.flush());
  }

  get stats(): AuditWriterStats {
    return { ...this.#stats, queued: this.#queue.length };
  }

  /**
   * Queues an event (stamped with the current time unless `occurredAt` is set, and an id unless `id` is).
   * Resolves once queued — not once written; call {@link flush} to wait for that.
   * @throws ValidationError naming the invalid field (risk score outside 0–100, bad ip …), before queuing
   * @throws PlatformError `AUDIT_WRITER_CLOSED` after the writer was closed
   * @throws the store's error when the queue is full and the flush it waits for fails
   */
  @declareAccess({ systemJob: 'the audit trail is written by the platform itself, never by a tenant caller' })
  async record(event: AuditEventInput): Promise<void> {
    const valid = this.repository.validate(event);
    // Stamped once here, so every retry of the flush writes the same (id, created_at) key and a row lands once.
    // A time-ordered id: a batch's keys land on the rightmost primary-key pages, not one random page per event.
    const occurredAt = valid.occurredAt ?? new Date();
    const stamped: AuditEvent = { ...valid, occurredAt, id: valid.id ?? timeOrderedUuid(occurredAt.getTime()) };
    this.#assertOpen();
    while (this.#queue.length >= this.#options.maxQueue) {
      await this.#settleOne();
      this.#assertOpen();
    }
    this.#queue.push(stamped);
    if (this.#queue.length >= this.#options.maxBatch) {
      this.#startBatches((error) => this.#logFailure(error));
    } else {
      this.#schedule();
    }
  }

  /**
   * Writes everything queued so far (several INSERTs when more than `maxBatch` are queued).
   * @throws the store's error (mapped) when an INSERT fails; the events stay queued
   */
  @declareAccess({ systemJob: 'the audit trail is written by the platform itself, never by a tenant caller' })
  async flush(): Promise<void> {
    while (this.#queue.length > 0 || this.#inflight.size > 0) await this.#settleOne();
  }

  /** Stops the timer, refuses new events and flushes the rest. Idempotent; the LIFECYCLE stop hook. */
  @declareAccess({ systemJob: 'the audit trail is written by the platform itself, never by a tenant caller' })
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  #assertOpen(): void {
    if (this.#closed) throw new PlatformError('AUDIT_WRITER_CLOSED', 'The audit writer is closed (the platform is stopping)');
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#queue.length === 0 || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush().catch((error: unknown) => {
        this.#logFailure(error);
        this.#schedule();
      });
    }, this.#options.flushIntervalMs);
    // A pending audit flush must not keep a process alive; a clean stop flushes through the hook.
    this.#timer.unref();
  }

  /**
   * Starts INSERTs of up to maxBatch events each while fewer than `flushConcurrency` are in flight.
   * Each event has its own id and time, so batches need no order among themselves; a failed batch
   * goes back to the head of the queue. `onError` observes a batch nobody awaits (started by `record()`).
   */
  #startBatches(onError?: (error: unknown) => void): void {
    while (this.#queue.length > 0 && this.#inflight.size < this.#options.flushConcurrency) {
      const batch = this.#queue.splice(0, this.#options.maxBatch);
      const run: Promise<void> = this.#write(batch).finally(() => {
        this.#inflight.delete(run);
        if (this.#queue.length > 0) this.#schedule();
      });
      this.#inflight.add(run);
      if (onError) run.catch(onError);
    }
  }

  /** Starts what it may, then waits for one INSERT in flight to settle (rejects with its error). */
  async #settleOne(): Promise<void> {
    this.#startBatches();
    if (this.#inflight.size > 0) await Promise.race(this.#inflight);
  }

  async #write(batch: AuditEvent[]): Promise<void> {
    try {
      await this.repository.appendValidated(batch);
      this.#stats.flushes += 1;
      this.#stats.written += batch.length;
    } catch (error) {
      this.#stats.failures += 1;
      this.#queue.unshift(...batch);
      throw error;
    }
  }

  #logFailure(error: unknown): void {
    this.logger.error('audit flush failed; events kept for the next flush', {
      error: error instanceof Error ? error.message : String(error),
      queued: this.#queue.length,
    });
  }
}
