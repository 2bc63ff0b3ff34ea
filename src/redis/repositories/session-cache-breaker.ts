import { inject, injectable } from 'tsyringe';
import type { Config } from '../../config.js';
import { StoreUnavailableError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { CONFIG, LOGGER } from '../../tokens.js';
import { mapRedisError } from '../map-redis-error.js';
import { RedisConnection } from '../redis-connection.js';

/** `closed`: Redis answers. `open`: Redis is kept out of the session path until the cool-down ends. `replaying`: one caller probes Redis and replays pending revocations. */
export type SessionCacheBreakerState = 'closed' | 'open' | 'replaying';

/** Replays revocations that committed in PostgreSQL but may be missing in Redis; throws when it cannot. */
export type RevocationReplay = () => Promise<void>;

/**
 * The circuit breaker of the session cache.
 *
 * After `REDIS_BREAKER_FAILURE_THRESHOLD` consecutive `StoreUnavailableError`s
 * the breaker opens: for `REDIS_BREAKER_COOLDOWN_MS` every session-cache read
 * fails at once (callers validate against PostgreSQL, without waiting for the
 * Redis command timeout). The first read after the cool-down probes Redis
 * (PING) and runs the {@link RevocationReplay} — revocations that committed in
 * PostgreSQL while Redis was unreachable — and only then closes: a Redis that
 * comes back with its old data never answers `hit` for a session revoked
 * during the outage. A failed probe or replay opens it again.
 *
 * A process starts `open` with the cool-down already over, so the replay also
 * runs once before Redis first answers (revocations queued by a process that
 * was killed mid-outage). A revocation whose Redis half failed calls
 * {@link revocationPending}: the breaker opens, so Redis answers nothing until
 * that revocation was replayed.
 *
 * Reads (`validate`, `readEpoch`, `put`) go through {@link read}; revocations
 * through {@link revoke}, which runs them while the breaker replays (they are
 * what the replay writes) and refuses them only while it cools down.
 */
@injectable()
export class SessionCacheBreaker {
  #state: SessionCacheBreakerState = 'open';
  /** Opened by failures (not only the start-up replay): worth a log line when it closes. */
  #inOutage = false;
  #openedAt = Number.NEGATIVE_INFINITY;
  #failures = 0;
  /** Bumped by every revocation Redis did not take; a replay that saw it move must run again before closing. */
  #pendingGeneration = 0;
  #replay: RevocationReplay = async () => undefined;
  #replaying: Promise<void> | undefined;

  constructor(
    @inject(RedisConnection) private readonly redis: RedisConnection,
    @inject(CONFIG) private readonly config: Config,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  get state(): SessionCacheBreakerState {
    return this.#state;
  }

  /** Installs the replay run before the breaker closes (the session flows install theirs). */
  setReplay(replay: RevocationReplay): void {
    this.#replay = replay;
  }

  /**
   * Runs a session-cache read, or refuses it at once while the breaker is not closed.
   * @throws StoreUnavailableError (at once when open or replaying; `work`'s own otherwise)
   */
  read<T>(work: () => Promise<T>): Promise<T> {
    // Not async, and #run neither: this wraps every validation, where each async frame costs a measurable share of a GET.
    if (this.#state !== 'closed') return this.#admit().then(() => this.#run(work));
    return this.#run(work);
  }

  /**
   * Runs a revocation's Redis half, unless the breaker is open and cooling down.
   * @throws StoreUnavailableError
   */
  async revoke<T>(work: () => Promise<T>): Promise<T> {
    if (this.#state === 'open' && !this.#cooledDown()) throw this.#refusal();
    return this.#run(work);
  }

  /** A revocation committed in PostgreSQL that Redis did not take: Redis may not answer until it is replayed. */
  revocationPending(): void {
    this.#pendingGeneration++;
    this.#open();
  }

  #run<T>(work: () => Promise<T>): Promise<T> {
    let pending: Promise<T>;
    try {
      pending = work();
    } catch (error) {
      return Promise.reject(this.#failed(error));
    }
    return pending.then(
      (result) => {
        this.#failures = 0;
        return result;
      },
      (error: unknown) => {
        throw this.#failed(error);
      },
    );
  }

  /** Counts a failure (opening the breaker at the threshold); returns the error to rethrow. */
  #failed(error: unknown): unknown {
    if (error instanceof StoreUnavailableError && ++this.#failures >= this.config.redis.breakerFailureThreshold && this.#state === 'closed') {
      this.logger.warn('session cache breaker opened: validations go to PostgreSQL', {
        failures: this.#failures,
        cooldownMs: this.config.redis.breakerCooldownMs,
      });
      this.#open();
    }
    return error;
  }

  /**
   * Lets the caller through once Redis answered a probe and the replay ran with no new pending revocation; else throws.
   * Callers arriving during the replay wait for it at start-up (Redis is expected up), and are refused at once after an outage.
   */
  async #admit(): Promise<void> {
    if (this.#state === 'replaying') {
      if (this.#inOutage || this.#replaying === undefined) throw this.#refusal();
      await this.#replaying.catch(() => undefined);
      if ((this.#state as SessionCacheBreakerState) !== 'closed') throw this.#refusal();
      return;
    }
    if (!this.#cooledDown()) throw this.#refusal();
    this.#replaying = this.#probeAndReplay();
    await this.#replaying;
  }

  async #probeAndReplay(): Promise<void> {
    this.#state = 'replaying';
    const generation = this.#pendingGeneration;
    try {
      await this.redis.client.ping();
      await this.#replay();
    } catch (error) {
      this.#open();
      const cause = mapRedisError(error);
      this.logger.warn('session cache breaker stays open: probe or replay failed', { error: cause });
      throw new StoreUnavailableError('redis', `session cache probe or revocation replay failed: ${cause.message}`, { url: this.redis.redactedUrl, cause });
    }
    if (generation !== this.#pendingGeneration || this.#state !== 'replaying') {
      // A revocation failed while we replayed: it is queued; replay again at the next read.
      this.#state = 'open';
      this.#openedAt = Number.NEGATIVE_INFINITY;
      throw this.#refusal();
    }
    this.#state = 'closed';
    this.#failures = 0;
    if (this.#inOutage) this.logger.info('session cache breaker closed: Redis answers validations again');
    this.#inOutage = false;
  }

  #open(): void {
    this.#inOutage = true;
    this.#state = 'open';
    this.#openedAt = performance.now();
  }

  #cooledDown(): boolean {
    return performance.now() - this.#openedAt >= this.config.redis.breakerCooldownMs;
  }

  #refusal(): StoreUnavailableError {
    return new StoreUnavailableError('redis', 'session cache circuit breaker is open: validating against PostgreSQL', { url: this.redis.redactedUrl });
  }
}
