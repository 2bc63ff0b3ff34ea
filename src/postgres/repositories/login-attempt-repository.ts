import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { parseInput } from '../../parse-input.js';
import { PostgresConnection } from '../postgres-connection.js';
import { lockoutInput } from './lockout-input.js';
import { noRows } from './no-rows.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { preparedStatement } from '../prepared-statement.js';

/**
 * One password evaluation the account's lockout budget allowed. It is already
 * counted as a failure; a correct password gives it back (`refund`).
 */
export interface LoginAttemptReservation {
  readonly userId: string;
  /** The failure count including this attempt. */
  readonly failedLoginCount: number;
  /** Set when this attempt was the last one the budget allowed: the lock it started. */
  readonly lockedUntil: Date | null;
  /** The lock's exact value (epoch microseconds), so `refund` lifts only the lock this attempt started. */
  readonly lockMicros: number | null;
}

const reservationRow = z
  .object({ id: z.uuid(), failed_login_count: z.number(), locked_until: z.date().nullable(), lock_us: z.number().nullable() })
  .transform((r): LoginAttemptReservation => ({ userId: r.id, failedLoginCount: r.failed_login_count, lockedUntil: r.locked_until, lockMicros: r.lock_us }));
const refundInput = z.object({ userId: z.uuid(), lockMicros: z.number().int().nullable() });

/** $1 user, $2 threshold, $3 lock seconds. */
const RESERVE = preparedStatement(
  'pd_login_attempt_reserve',
  `WITH u AS (
     UPDATE users SET
       failed_login_count = CASE WHEN locked_until IS NOT NULL THEN 1 ELSE failed_login_count + 1 END,
       locked_until = CASE WHEN (CASE WHEN locked_until IS NOT NULL THEN 1 ELSE failed_login_count + 1 END) >= $2::int4
         THEN now() + make_interval(secs => $3::int4) ELSE NULL END
     WHERE id = $1::uuid AND (locked_until IS NULL OR locked_until <= now())
     RETURNING id, failed_login_count, locked_until)
   SELECT id, failed_login_count, locked_until, (extract(epoch FROM locked_until) * 1000000)::int8 AS lock_us FROM u`,
  reservationRow,
);

/** $1 user, $2 the lock's epoch microseconds or null. */
const REFUND = preparedStatement(
  'pd_login_attempt_refund',
  `UPDATE users SET
     failed_login_count = greatest(failed_login_count - 1, 0),
     locked_until = CASE WHEN (extract(epoch FROM locked_until) * 1000000)::int8 = $2::int8 THEN NULL ELSE locked_until END
   WHERE id = $1::uuid`,
  noRows,
);

/**
 * The lockout's budget of password evaluations, taken before bcrypt runs
 * (docs/security.md, "Lockout"). One UPDATE serialised on the user's row lock
 * reserves an attempt, so N parallel sign-ins evaluate at most `threshold`
 * passwords between two locks: the rest find the lock already set.
 *
 * A pre-tenant auth path on the owner pool (docs/schema.md, "Pre-tenant auth paths").
 */
@injectable()
@accessControlled
export class LoginAttemptRepository {
  constructor(@inject(PostgresConnection) private readonly postgres: PostgresConnection) {}

  /**
   * Counts one attempt as a failure before the password is checked, and starts
   * the lock when it is the `threshold`-th; after an expired lock the count
   * starts again at 1.
   * @returns the reservation, or `undefined` when the account is locked (nothing counted) or unknown
   * @throws ValidationError naming the invalid field
   */
  @declareAccess({ preTenant: 'authentication: the lockout counter is reserved before any caller is known' })
  async reserve(userId: string, policy: { threshold: number; lockSeconds: number }): Promise<LoginAttemptReservation | undefined> {
    const d = parseInput(lockoutInput, { userId, ...policy });
    // On the application role, in the user's own scope (sql/0070: users' sign-in bookkeeping columns); the scope
    // and the one UPDATE in one round trip, committed at its Sync (PostgresConnection.scopedQuery).
    const [row] = await this.postgres.scopedQuery({ userId: d.userId }, RESERVE, [d.userId, d.threshold, d.lockSeconds]);
    return row ?? undefined;
  }

  /**
   * Gives a reservation back after a correct password: one failure less, and
   * the lock lifted if this attempt started it (a lock a later attempt started stays).
   * @throws ValidationError naming the invalid field
   */
  @declareAccess({ preTenant: 'authentication: the lockout counter is reserved before any caller is known' })
  async refund(reservation: Pick<LoginAttemptReservation, 'userId' | 'lockMicros'>): Promise<void> {
    const d = parseInput(refundInput, { userId: reservation.userId, lockMicros: reservation.lockMicros });
    await this.postgres.scopedCommand({ userId: d.userId }, REFUND, [d.userId, d.lockMicros]);
  }
}
