import { sql, type CommonQueryMethods } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { ConflictError, NotFoundError, PlatformError } from '../../errors.js';
import { hashRecoveryCode } from '../../security/recovery-codes.js';
import { SecretBox } from '../../security/secret-box.js';
import { PostgresConnection } from '../postgres-connection.js';
import { preparedStatement } from '../prepared-statement.js';
import { MAINTENANCE_SCOPE, scopedPool } from '../with-scope.js';
import { noRows } from './no-rows.js';
import { parseInput, uuidInput } from '../../parse-input.js';
import { reencryptColumns, type ReencryptResult } from './reencrypt-columns.js';
import { withUserScope } from './with-user-scope.js';
import { AuditRepository, type AuditEventInput } from './audit-repository.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

export interface MfaStatus {
  /** A TOTP secret is stored (enrolment started). */
  readonly enrolled: boolean;
  /** Set once the first code was confirmed: from then on login requires a second factor. */
  readonly enabledAt: Date | null;
  readonly lastUsedStep: number | null;
  readonly remainingRecoveryCodes: number;
}

export interface TotpSecret {
  /** Base32 secret, decrypted: verify codes with `Totp`, never log it. */
  readonly secret: string;
  readonly enabledAt: Date | null;
  /** Pass as `afterTimeStep` to `Totp.verify` (replay protection). */
  readonly lastUsedStep: number | null;
}

const statusRow = z
  .object({ enrolled: z.boolean(), enabled_at: z.date().nullable(), last_used_step: z.number().nullable(), remaining: z.number() })
  .transform((r): MfaStatus => ({ enrolled: r.enrolled, enabledAt: r.enabled_at, lastUsedStep: r.last_used_step, remainingRecoveryCodes: r.remaining }));
const MFA_STATUS = preparedStatement(
  'pd_mfa_status',
  `SELECT m.user_id IS NOT NULL AS enrolled, m.enabled_at, m.last_used_step,
          (SELECT count(*)::int FROM mfa_recovery_codes c WHERE c.user_id = $1::uuid AND c.used_at IS NULL) AS remaining
   FROM (SELECT 1) AS one
   LEFT JOIN user_mfa m ON m.user_id = $1::uuid`,
  statusRow,
);
const secretRow = z.object({ totp_secret_encrypted: z.instanceof(Buffer), enabled_at: z.date().nullable(), last_used_step: z.number().nullable() });
const userIdRow = z.object({ user_id: z.uuid() });

// Base32 (RFC 4648) as otplib produces it; 26+ characters = at least 128 bits.
const secretInput = z.string().regex(/^[A-Z2-7]{26,128}=*$/, 'must be a Base32 TOTP secret of at least 128 bits');
const stepInput = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const hashesInput = z
  .array(z.instanceof(Buffer).refine((b) => b.length === 32, 'must be a 32-byte SHA-256'))
  .min(1)
  .max(100);

function aad(userId: string): string {
  return `user_mfa:${userId}:totp_secret`;
}

/**
 * Second factor: the TOTP secret (SecretBox, AAD `user_mfa:<user id>:totp_secret`),
 * the last accepted time step (replay protection) and single-use recovery codes
 * (SHA-256 only).
 *
 * Pools: all per-user work runs on the application pool scoped to the user
 * (`withUserScope`): MFA belongs to the person, and the login challenge
 * happens before an organization is chosen. `reencryptAll` is maintenance (owner).
 */
@injectable()
@accessControlled
export class MfaRepository {
  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(SecretBox) private readonly box: SecretBox,
    @inject(AuditRepository) private readonly audit: AuditRepository,
  ) {}

  /**
   * Starts (or restarts) enrolment with a new secret; MFA is not enabled until {@link enable}.
   * @throws ValidationError naming `userId` / `secret`
   * @throws ConflictError `mfa_already_enabled` when MFA is enabled (disable it first)
   */
  @declareAccess({ preTenant: 'MFA flows (MfaService, MfaEnrollment, SecondFactorCheck, MfaSignIn), which check the caller first' })
  async enroll(userId: string, secret: string): Promise<void> {
    const input = parseInput(z.object({ userId: z.uuid(), secret: secretInput }), { userId, secret });
    const ciphertext = sql.binary(this.box.encrypt(input.secret, aad(input.userId)));
    const row = await withUserScope(this.postgres.appPool, input.userId, (tx) =>
      tx.maybeOne(sql.type(userIdRow)`
        INSERT INTO user_mfa (user_id, totp_secret_encrypted) VALUES (${input.userId}, ${ciphertext})
        ON CONFLICT (user_id) DO UPDATE SET totp_secret_encrypted = EXCLUDED.totp_secret_encrypted, last_used_step = NULL
          WHERE user_mfa.enabled_at IS NULL
        RETURNING user_id`),
    );
    if (!row) throw new ConflictError('MFA is already enabled', { store: 'postgres', constraint: 'mfa_already_enabled' });
  }

  /**
   * The decrypted secret and replay state, or `undefined` when not enrolled.
   * @throws ValidationError naming `userId`
   * @throws CryptoError when the ciphertext does not authenticate
   */
  @declareAccess({ preTenant: 'MFA flows (MfaService, MfaEnrollment, SecondFactorCheck, MfaSignIn), which check the caller first' })
  async getSecret(userId: string): Promise<TotpSecret | undefined> {
    const id = parseInput(uuidInput, userId, 'userId');
    const row = await withUserScope(this.postgres.appPool, id, (tx) =>
      tx.maybeOne(sql.type(secretRow)`SELECT totp_secret_encrypted, enabled_at, last_used_step FROM user_mfa WHERE user_id = ${id}`),
    );
    if (!row) return undefined;
    return { secret: this.box.decryptString(row.totp_secret_encrypted, aad(id)), enabledAt: row.enabled_at, lastUsedStep: row.last_used_step };
  }

  /**
   * Records the time step of an accepted code, only if it is newer than the
   * last one (compare-and-set in one UPDATE): of two concurrent logins with the
   * same code, exactly one gets `true`.
   * @throws ValidationError naming `userId` / `timeStep`
   */
  @declareAccess({ preTenant: 'MFA flows (MfaService, MfaEnrollment, SecondFactorCheck, MfaSignIn), which check the caller first' })
  async recordTimeStep(userId: string, timeStep: number): Promise<boolean> {
    const input = parseInput(z.object({ userId: z.uuid(), timeStep: stepInput }), { userId, timeStep });
    const row = await withUserScope(this.postgres.appPool, input.userId, (tx) =>
      tx.maybeOne(sql.type(userIdRow)`
        UPDATE user_mfa SET last_used_step = ${input.timeStep}
        WHERE user_id = ${input.userId} AND (last_used_step IS NULL OR last_used_step < ${input.timeStep})
        RETURNING user_id`),
    );
    return row !== null;
  }

  /**
   * Enables MFA after the first code was verified, recording that code's step;
   * in the same transaction, replaces the recovery codes with `options.recoveryCodeHashes`
   * and writes `options.events` (e.g. `auth.mfa.enabled`): all or nothing.
   * @throws ValidationError naming `userId` / `timeStep` / `hashes.<i>` / `events.<i>.*`
   * @throws NotFoundError when the user is not enrolled (nothing written)
   */
  @declareAccess({ preTenant: 'MFA flows (MfaService, MfaEnrollment, SecondFactorCheck, MfaSignIn), which check the caller first' })
  async enable(
    userId: string,
    timeStep: number,
    options: { readonly recoveryCodeHashes?: readonly Buffer[]; readonly events?: readonly AuditEventInput[] } = {},
  ): Promise<Date> {
    const input = parseInput(z.object({ userId: z.uuid(), timeStep: stepInput }), { userId, timeStep });
    const hashes = options.recoveryCodeHashes === undefined ? undefined : parseInput(hashesInput, options.recoveryCodeHashes, 'hashes');
    const row = await withUserScope(this.postgres.appPool, input.userId, async (tx) => {
      const enabled = await tx.maybeOne(sql.type(z.object({ enabled_at: z.date() }))`
        UPDATE user_mfa SET enabled_at = coalesce(enabled_at, now()), last_used_step = greatest(last_used_step, ${input.timeStep})
        WHERE user_id = ${input.userId}
        RETURNING enabled_at`);
      if (!enabled) return null;
      if (hashes !== undefined) await this.#replaceRecoveryCodes(tx, input.userId, hashes);
      await this.#events(tx, options.events);
      return enabled;
    });
    if (!row) throw new NotFoundError('mfa enrolment', input.userId);
    return row.enabled_at;
  }

  /**
   * Disables MFA: removes the secret and every recovery code, and writes
   * `options.events` (e.g. `auth.mfa.disabled`) in the same transaction when MFA was enrolled.
   * @returns true when MFA was enrolled
   * @throws ValidationError naming `userId` / `events.<i>.*`
   */
  @declareAccess({ preTenant: 'MFA flows (MfaService, MfaEnrollment, SecondFactorCheck, MfaSignIn), which check the caller first' })
  async disable(userId: string, options: { readonly events?: readonly AuditEventInput[] } = {}): Promise<boolean> {
    const id = parseInput(uuidInput, userId, 'userId');
    return withUserScope(this.postgres.appPool, id, async (tx) => {
      await tx.query(sql.type(noRows)`DELETE FROM mfa_recovery_codes WHERE user_id = ${id}`);
      const row = await tx.maybeOne(sql.type(userIdRow)`DELETE FROM user_mfa WHERE user_id = ${id} RETURNING user_id`);
      if (row !== null) await this.#events(tx, options.events);
      return row !== null;
    });
  }

  /**
   * Replaces the user's recovery codes with new ones (hashes from `generateRecoveryCodes`),
   * writing `options.events` in the same transaction.
   * @throws ValidationError naming `userId` / `hashes.<i>` / `events.<i>.*`
   */
  @declareAccess({ preTenant: 'MFA flows (MfaService, MfaEnrollment, SecondFactorCheck, MfaSignIn), which check the caller first' })
  async replaceRecoveryCodes(userId: string, hashes: readonly Buffer[], options: { readonly events?: readonly AuditEventInput[] } = {}): Promise<void> {
    const input = parseInput(z.object({ userId: z.uuid(), hashes: hashesInput }), { userId, hashes });
    await withUserScope(this.postgres.appPool, input.userId, async (tx) => {
      await this.#replaceRecoveryCodes(tx, input.userId, input.hashes);
      await this.#events(tx, options.events);
    });
  }

  async #replaceRecoveryCodes(tx: CommonQueryMethods, userId: string, hashes: readonly Buffer[]): Promise<void> {
    await tx.query(sql.type(noRows)`DELETE FROM mfa_recovery_codes WHERE user_id = ${userId}`);
    await tx.query(sql.type(noRows)`
      INSERT INTO mfa_recovery_codes (user_id, code_hash)
      SELECT ${userId}, code_hash FROM ${sql.unnest(
        hashes.map((h) => [h]),
        ['bytea'],
      )} AS t(code_hash)`);
  }

  async #events(tx: CommonQueryMethods, events: readonly AuditEventInput[] | undefined): Promise<void> {
    if (events !== undefined && events.length > 0) await this.audit.appendWithin(tx, events);
  }

  /**
   * Uses a recovery code: ONE atomic `UPDATE … WHERE used_at IS NULL`, so a
   * code works once even under concurrency.
   * `options.events` (e.g. `auth.mfa.recovery_code_used`) are written in the same transaction when the code was used.
   * @returns true when the code was valid and unused (and is now used)
   * @throws ValidationError naming `userId`, or `recoveryCode` when the input cannot be a code
   */
  @declareAccess({ preTenant: 'MFA flows (MfaService, MfaEnrollment, SecondFactorCheck, MfaSignIn), which check the caller first' })
  async useRecoveryCode(userId: string, code: string, options: { readonly events?: readonly AuditEventInput[] } = {}): Promise<boolean> {
    const id = parseInput(uuidInput, userId, 'userId');
    const hash = hashRecoveryCode(parseInput(z.string().max(64), code, 'recoveryCode'));
    const row = await withUserScope(this.postgres.appPool, id, async (tx) => {
      const used = await tx.maybeOne(sql.type(userIdRow)`
        UPDATE mfa_recovery_codes SET used_at = now()
        WHERE user_id = ${id} AND code_hash = ${sql.binary(hash)} AND used_at IS NULL
        RETURNING user_id`);
      if (used !== null) await this.#events(tx, options.events);
      return used;
    });
    return row !== null;
  }

  /**
   * Enrolment state and how many recovery codes are left.
   * @throws ValidationError naming `userId`
   */
  @declareAccess({ preTenant: 'MFA flows (MfaService, MfaEnrollment, SecondFactorCheck, MfaSignIn), which check the caller first' })
  async status(userId: string): Promise<MfaStatus> {
    const id = parseInput(uuidInput, userId, 'userId');
    // Every sign-in reads this: the user's scope and the read in one round trip (PostgresConnection.scopedQuery).
    const [row] = await this.postgres.scopedQuery({ userId: id }, MFA_STATUS, [id]);
    if (!row) throw new PlatformError('POSTGRES_ERROR', `${MFA_STATUS.name} returned no row`);
    return row;
  }

  /**
   * Key rotation: re-encrypts every TOTP secret not under the active key.
   * @returns rows rewritten, and ids of rows skipped because a ciphertext does not authenticate
   * @throws ValidationError naming `batchSize`
   */
  @declareAccess({ systemJob: 'key rotation run by the operator' })
  async reencryptAll(batchSize = 500): Promise<ReencryptResult> {
    return reencryptColumns(scopedPool(this.postgres.appPool, MAINTENANCE_SCOPE), this.box, {
      table: 'user_mfa',
      idColumn: 'user_id',
      columns: [{ column: 'totp_secret_encrypted', aad }],
      batchSize,
    });
  }
}
