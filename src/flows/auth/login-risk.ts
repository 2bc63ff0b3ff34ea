/** What the login flow knows about an attempt, for {@link scoreLoginRisk}. */
export interface LoginRiskSignals {
  /** The account has signed in before (otherwise everything is "new" and says nothing). */
  readonly hasHistory: boolean;
  /** The IP differs from the last login and from every active session. */
  readonly newIp: boolean;
  /** A device id was sent and no active session carries it. */
  readonly newDevice: boolean;
  /** Failed attempts on the account before this one (the lockout counter). */
  readonly recentFailures: number;
}

/**
 * Risk score 0–100 for the audit log (≥ 70 is high risk). Additive and
 * deliberately simple, so an operator can read a score back into its causes:
 * new IP +30, new device +20 (both only for accounts with a login history),
 * +10 per recent failure up to +40.
 */
export function scoreLoginRisk(s: LoginRiskSignals): number {
  let score = 0;
  if (s.hasHistory && s.newIp) score += 30;
  if (s.hasHistory && s.newDevice) score += 20;
  score += Math.min(40, Math.max(0, s.recentFailures) * 10);
  return Math.min(100, score);
}

/** Risk of a failed attempt: grows with the failures on the account (or the IP, for unknown emails). */
export function scoreFailedLoginRisk(failures: number): number {
  return Math.min(90, 10 + Math.max(0, failures) * 10);
}

/** Refresh-token reuse: a stolen token is the likeliest explanation. */
export const REFRESH_REUSE_RISK = 95;
