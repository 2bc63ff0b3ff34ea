import { randomUUID } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { ValidationError } from '../../errors.js';
import { RedisConnection } from '../redis-connection.js';
import { RedisKeys, type RedisKey } from '../redis-keys.js';
import { runScript } from '../scripts/redis-script.js';
import { RateLimitDecision, SLIDING_WINDOW_CONSUME } from '../scripts/rate-limit-scripts.js';

export interface RateLimitOptions {
  /** Units allowed per window. */
  readonly limit: number;
  readonly windowMs: number;
  /** Units this call consumes (default 1). */
  readonly cost?: number;
}

export interface RateLimitResult {
  readonly allowed: boolean;
  /** Units still available in the trailing window after this call. */
  readonly remaining: number;
  /** 0 when allowed; otherwise how long until this call's cost would fit. */
  readonly retryAfterMs: number;
  readonly limit: number;
}

const reply = z.tuple([z.number(), z.number(), z.number()]);

/**
 * Exact rate limiting with a **sliding-window log** in one Lua script.
 *
 * Why not GCRA: GCRA keeps one timestamp per key (O(1) memory) but bounds
 * the *rate*; with a burst of `limit` it admits up to ≈ 2×limit − 1 calls in
 * some windows. The log guarantees what an API-key row promises ("N per
 * minute"): never more than `limit` units in any trailing window, and an
 * exact retry-after (when the oldest blocking unit leaves the window). The
 * price is O(limit) memory per active key, bounded by the key's TTL (= window);
 * fine for limits up to ~10⁴ per window. The script reads the Redis clock, so
 * app servers with skewed clocks still share one window, and it runs
 * atomically, so concurrent callers cannot overshoot.
 */
@injectable()
export class RateLimiter {
  constructor(
    @inject(RedisConnection) private readonly redis: RedisConnection,
    @inject(RedisKeys) private readonly keys: RedisKeys,
  ) {}

  /**
   * Consumes `cost` units from the bucket at `key` (build it with {@link RedisKeys}).
   * Denied calls consume nothing.
   * @throws ValidationError for a non-positive limit/window or a cost above the limit; StoreUnavailableError.
   */
  async consume(key: RedisKey, options: RateLimitOptions): Promise<RateLimitResult> {
    const cost = options.cost ?? 1;
    const issues = [
      ...(Number.isInteger(options.limit) && options.limit >= 1 ? [] : [{ path: 'limit', message: 'must be an integer ≥ 1' }]),
      ...(Number.isInteger(options.windowMs) && options.windowMs >= 1 ? [] : [{ path: 'windowMs', message: 'must be an integer ≥ 1' }]),
      ...(Number.isInteger(cost) && cost >= 1 && cost <= options.limit ? [] : [{ path: 'cost', message: 'must be an integer between 1 and limit' }]),
    ];
    if (issues.length > 0) throw new ValidationError(issues);
    const [decision, remaining, retryAfterMs] = reply.parse(
      await runScript(this.redis.client, SLIDING_WINDOW_CONSUME, [key], [options.limit, options.windowMs, cost, randomUUID()]),
    );
    return { allowed: decision === RateLimitDecision.Allowed, remaining, retryAfterMs, limit: options.limit };
  }

  /** Per API key; the limit comes from the API-key row. */
  consumeForApiKey(organizationId: string, apiKeyId: string, options: RateLimitOptions): Promise<RateLimitResult> {
    return this.consume(this.keys.rateLimitApiKey(organizationId, apiKeyId), options);
  }

  /** Per client IP (hashed in the key) and scope, e.g. `signup`. */
  consumeForIp(ip: string, scope: string, options: RateLimitOptions): Promise<RateLimitResult> {
    return this.consume(this.keys.rateLimitIp(ip, scope), options);
  }

  /** Per email address (lower-cased and hashed in the key) and scope, e.g. `email_sign_in`: whether or not it has an account. */
  consumeForEmail(email: string, scope: string, options: RateLimitOptions): Promise<RateLimitResult> {
    return this.consume(this.keys.rateLimitEmail(email, scope), options);
  }

  /** Per user and scope, e.g. `chat`. */
  consumeForUser(userId: string, scope: string, options: RateLimitOptions): Promise<RateLimitResult> {
    return this.consume(this.keys.rateLimitUser(userId, scope), options);
  }
}
