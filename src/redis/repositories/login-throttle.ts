import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import type { Config } from '../../config.js';
import { RateLimitedError } from '../../errors.js';
import { CONFIG } from '../../tokens.js';
import { mapRedisError, withRedisErrors } from '../map-redis-error.js';
import { RedisConnection } from '../redis-connection.js';
import { RedisKeys } from '../redis-keys.js';
import { runScript } from '../scripts/redis-script.js';
import { COUNTER_INCREMENT } from '../scripts/rate-limit-scripts.js';

export interface LoginThrottlePolicy {
  /** Failures per account within the window before sign-in is refused without checking the password. */
  readonly accountLimit: number;
  /** Failures per client IP within the window (many accounts from one address). */
  readonly ipLimit: number;
  /** The window starts at the first failure. */
  readonly windowMs: number;
}

export interface LoginAttempt {
  readonly email: string;
  /** Client IP; omit when unknown (then only the account is throttled). */
  readonly ip?: string;
}

export interface LoginFailureCounts {
  readonly account: number;
  readonly ip: number | undefined;
}

const counter = z.tuple([z.number(), z.number()]);

/**
 * Cheap throttling in front of the Postgres lockout: `check()` runs before
 * bcrypt, so a brute-force run is refused without spending a hash. Account
 * keys hold sha256(lower(email)), never the email. The account limit equals
 * the Postgres lockout threshold by default, so Redis refuses exactly when
 * Postgres would lock; the per-IP limit is 10× that, to catch one address
 * spraying many accounts.
 *
 * Not exact under concurrency by design: `check` and `recordFailure` are two
 * calls, so a burst of parallel attempts may pass `check` together; the
 * Postgres lockout counter (row-locked) is the exact bound behind it.
 */
@injectable()
export class LoginThrottle {
  #policy: LoginThrottlePolicy;

  constructor(
    @inject(RedisConnection) private readonly redis: RedisConnection,
    @inject(RedisKeys) private readonly keys: RedisKeys,
    @inject(CONFIG) private readonly config: Config,
  ) {
    this.#policy = {
      accountLimit: config.auth.lockoutThreshold,
      ipLimit: config.auth.lockoutThreshold * 10,
      windowMs: config.auth.lockoutSeconds * 1000,
    };
  }

  get policy(): LoginThrottlePolicy {
    return this.#policy;
  }

  /** The same throttle (same keys, so the same counters) with another policy, e.g. stricter for admin sign-in. */
  withPolicy(policy: Partial<LoginThrottlePolicy>): LoginThrottle {
    const copy = new LoginThrottle(this.redis, this.keys, this.config);
    copy.#policy = { ...this.#policy, ...policy };
    return copy;
  }

  /**
   * Call before verifying the password.
   * @throws RateLimitedError with `retryAfterMs` when the account or the IP is over its limit; StoreUnavailableError.
   */
  async check(attempt: LoginAttempt): Promise<void> {
    // One pipeline per key: the account and IP keys live in different Cluster slots, and a
    // cluster pipeline must stay within one slot (ioredis refuses it otherwise); in parallel, still one round trip.
    const keys = attempt.ip === undefined ? [this.keys.loginAccount(attempt.email)] : [this.keys.loginAccount(attempt.email), this.keys.loginIp(attempt.ip)];
    const results = await withRedisErrors(() => Promise.all(keys.map((key) => this.redis.client.pipeline().get(key).pttl(key).exec())));
    const values = results
      .flatMap((r) => r ?? [])
      .map(([error, value]) => {
        if (error) throw mapRedisError(error);
        return value;
      });
    const blocked = (count: unknown, pttl: unknown, limit: number): number | undefined => (Number(count ?? 0) >= limit ? Math.max(1, Number(pttl)) : undefined);
    const account = blocked(values[0], values[1], this.policy.accountLimit);
    const ip = attempt.ip === undefined ? undefined : blocked(values[2], values[3], this.policy.ipLimit);
    if (account !== undefined || ip !== undefined) {
      // One message for both, so the response does not tell an attacker which limit tripped.
      throw new RateLimitedError(
        'Too many failed sign-in attempts',
        Math.max(account ?? 0, ip ?? 0),
        account !== undefined ? this.policy.accountLimit : this.policy.ipLimit,
      );
    }
  }

  /** Counts one failed sign-in for the account and the IP. @throws StoreUnavailableError */
  async recordFailure(attempt: LoginAttempt): Promise<LoginFailureCounts> {
    const [account, ip] = await Promise.all([
      runScript(this.redis.client, COUNTER_INCREMENT, [this.keys.loginAccount(attempt.email)], [this.policy.windowMs]),
      attempt.ip === undefined ? undefined : runScript(this.redis.client, COUNTER_INCREMENT, [this.keys.loginIp(attempt.ip)], [this.policy.windowMs]),
    ]);
    return { account: counter.parse(account)[0], ip: ip === undefined ? undefined : counter.parse(ip)[0] };
  }

  /**
   * After a successful sign-in: clears the account's failures. The IP counter
   * stays, or one owned account would let an attacker reset the IP limit.
   * @throws StoreUnavailableError
   */
  async reset(attempt: Pick<LoginAttempt, 'email'>): Promise<void> {
    await withRedisErrors(() => this.redis.client.del(this.keys.loginAccount(attempt.email)));
  }
}
