import { inject, injectable } from 'tsyringe';
import { ValidationError } from '../errors.js';
import { CONFIG } from '../tokens.js';

/** The part of `Config` the policy reads; a full `Config` satisfies it. */
export interface LockoutPolicyConfig {
  readonly auth: { readonly lockoutThreshold: number; readonly lockoutSeconds: number };
}

/**
 * The account lockout rule: after `threshold` consecutive failed logins the account is
 * locked for `lockSeconds`; a success resets the count.
 *
 * Deliberately only the rule. Enforcement is one atomic UPDATE in the users repository
 * (see docs/security.md, "Lockout"), because a read-then-write in TypeScript would let
 * concurrent failures skip the threshold. This class gives that statement its parameters
 * and lets services interpret the row it returns.
 */
@injectable()
export class LockoutPolicy {
  readonly threshold: number;
  readonly lockSeconds: number;

  /** @throws ValidationError naming the field when threshold or lock time is not a positive integer. */
  constructor(@inject(CONFIG) config: LockoutPolicyConfig) {
    const { lockoutThreshold, lockoutSeconds } = config.auth;
    const issues = [
      ...(Number.isInteger(lockoutThreshold) && lockoutThreshold >= 1 ? [] : [{ path: 'auth.lockoutThreshold', message: 'must be a positive integer' }]),
      ...(Number.isInteger(lockoutSeconds) && lockoutSeconds >= 1 ? [] : [{ path: 'auth.lockoutSeconds', message: 'must be a positive integer' }]),
    ];
    if (issues.length > 0) throw new ValidationError(issues);
    this.threshold = lockoutThreshold;
    this.lockSeconds = lockoutSeconds;
  }

  /** True while `lockedUntil` is in the future. */
  isLocked(lockedUntil: Date | null | undefined, now: Date = new Date()): boolean {
    return lockedUntil != null && lockedUntil.getTime() > now.getTime();
  }

  /** Milliseconds until the lock expires (0 when not locked), e.g. for a Retry-After. */
  remainingMs(lockedUntil: Date | null | undefined, now: Date = new Date()): number {
    if (lockedUntil == null) return 0;
    return Math.max(0, lockedUntil.getTime() - now.getTime());
  }
}
