import { randomUUID } from 'node:crypto';
import { sql, type DatabaseTransactionConnection } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import type { Config } from '../../config.js';
import { NotFoundError, TokenError } from '../../errors.js';
import { SecretBox } from '../../security/secret-box.js';
import { generateSecretToken, hashToken, tokenMatchesHash } from '../../security/secret-token.js';
import { CONFIG } from '../../tokens.js';
import { PostgresConnection } from '../postgres-connection.js';
import { noRows } from './no-rows.js';
import { parseInput } from '../../parse-input.js';
import { AuditRepository, type AuditEventInput } from './audit-repository.js';
import { RefreshTokenReusedError } from './refresh-token-reused-error.js';
import { SessionCacheRevocationRepository } from './session-cache-revocation-repository.js';
import { withPostgresErrors } from '../map-postgres-error.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { MAINTENANCE_SCOPE, withScope } from '../with-scope.js';

export interface RotateOptions {
  /** The audit events of a detected reuse; written in the transaction that revokes the family, so they commit with it. */
  readonly reuseEvents?: (reuse: RefreshTokenReusedError) => readonly AuditEventInput[];
}

export interface RefreshTokenRecord {
  readonly id: string;
  readonly sessionId: string;
  readonly userId: string;
  readonly organizationId: string;
  readonly familyId: string;
  readonly parentId: string | null;
  readonly replacedBy: string | null;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly rotatedAt: Date | null;
  readonly revokedAt: Date | null;
  readonly revokedReason: string | null;
}

/** A refresh token in plaintext — returned once, never stored — and its row. */
export interface IssuedRefreshToken {
  readonly token: string;
  readonly refreshToken: RefreshTokenRecord;
}

export interface RotatedRefreshToken extends IssuedRefreshToken {
  /**
   * True when this call lost a concurrent refresh of the same token inside the
   * grace window and received the winner's token (the same `token` and row).
   */
  readonly replayed: boolean;
  /** The session the token belongs to, read under the same lock as the rotation (so a caller needs no second read that could fail after the commit). */
  readonly session: { readonly accessTokenJti: string; readonly expiresAt: Date };
}

const shape = {
  id: z.uuid(),
  session_id: z.uuid(),
  user_id: z.uuid(),
  organization_id: z.uuid(),
  family_id: z.uuid(),
  parent_id: z.uuid().nullable(),
  replaced_by: z.uuid().nullable(),
  created_at: z.date(),
  expires_at: z.date(),
  rotated_at: z.date().nullable(),
  revoked_at: z.date().nullable(),
  revoked_reason: z.string().nullable(),
};
type RawRow = z.infer<z.ZodObject<typeof shape>>;

function toRecord(r: RawRow): RefreshTokenRecord {
  return {
    id: r.id,
    sessionId: r.session_id,
    userId: r.user_id,
    organizationId: r.organization_id,
    familyId: r.family_id,
    parentId: r.parent_id,
    replacedBy: r.replaced_by,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    rotatedAt: r.rotated_at,
    revokedAt: r.revoked_at,
    revokedReason: r.revoked_reason,
  };
}

const recordRow = z.object(shape).transform(toRecord);

const lockedRow = z.object({
  ...shape,
  token_hash: z.instanceof(Buffer),
  replacement_token_encrypted: z.instanceof(Buffer).nullable(),
  within_grace: z.boolean(),
  expired: z.boolean(),
  session_revoked: z.boolean(),
  session_expired: z.boolean(),
  session_idle: z.boolean(),
  session_expires_at: z.date(),
  access_token_jti: z.string(),
});
type LockedRow = z.infer<typeof lockedRow>;

const COLUMNS = sql.fragment`id, session_id, user_id, organization_id, family_id, parent_id, replaced_by,
  created_at, expires_at, rotated_at, revoked_at, revoked_reason`;

const tokenInput = z.string().min(1).max(512);
const reasonInput = z.string().min(1).max(200);
const issueInput = z.object({ sessionId: z.uuid(), familyId: z.uuid().optional() }).strict();

/** `organization_security_settings.inactivity_timeout_minutes`' column default (sql/0003), for organizations without a row. */
const DEFAULT_INACTIVITY_MINUTES = 1440;

function sessionOf(row: LockedRow): RotatedRefreshToken['session'] {
  return { accessTokenJti: row.access_token_jti, expiresAt: row.session_expires_at };
}

/** Column the grace-window ciphertext lives in; part of its AAD. */
const REPLACEMENT_COLUMN = 'replacement_token_encrypted';

/** AAD binding a parent's stored replacement token to that parent row and column. */
function replacementAad(parentId: string): string {
  return `refresh_tokens:${parentId}:${REPLACEMENT_COLUMN}`;
}

type RotationOutcome = { kind: 'rotated'; result: RotatedRefreshToken } | { kind: 'failed'; error: TokenError };

/**
 * Refresh tokens: opaque random secrets of which only the SHA-256 is stored,
 * grouped in families (one per login), rotated on every use.
 *
 * Pool: the owner pool. A refresh request carries nothing but the token, so the
 * lookup happens before any tenant is known; the token hash is the credential
 * (see docs/schema.md, "Pre-tenant auth paths").
 *
 * Concurrent refreshes: `rotate` locks the presented token's row
 * (`SELECT … FOR UPDATE`), so concurrent rotations of one token serialise. The
 * winner stores the child's plaintext SecretBox-encrypted on the parent row
 * (AAD `refresh_tokens:<parent id>:replacement_token_encrypted`); a loser
 * arriving within `auth.refreshReuseGraceSeconds` decrypts and receives the
 * same child token, so exactly one lineage continues. Why encrypt-and-store
 * rather than derive the child deterministically (e.g. HMAC of the parent):
 * a derivation lets anyone holding one leaked old token plus the key compute
 * every later token offline, without ever presenting a token the server could
 * flag; the stored ciphertext needs the key *and* the database *and* falls
 * inside a window of seconds, after which it is erased.
 *
 * @example
 * const { token } = await refreshTokens.issue(session.id);
 * const next = await refreshTokens.rotate(token); // next.token replaces token
 */
@injectable()
@accessControlled
export class RefreshTokenRepository {
  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(SecretBox) private readonly box: SecretBox,
    @inject(CONFIG) private readonly config: Config,
    @inject(SessionCacheRevocationRepository) private readonly cacheRevocations: SessionCacheRevocationRepository,
    @inject(AuditRepository) private readonly audit: AuditRepository,
  ) {}

  /**
   * Issues a new refresh token for an active session, in a new family or (when
   * `familyId` is given) in an existing, unrevoked family of that session.
   * It expires after `auth.sessionTtlSeconds`, never after its session.
   * @throws ValidationError naming `sessionId` / `familyId`
   * @throws NotFoundError when the session (or the family within it) does not exist
   * @throws TokenError `revoked` / `expired` when the session or family is no longer usable
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async issue(sessionId: string, familyId?: string): Promise<IssuedRefreshToken> {
    const input = parseInput(issueInput, { sessionId, familyId });
    const token = generateSecretToken();
    const owner = await withPostgresErrors(() =>
      this.postgres.appPool.maybeOneFirst(sql.type(z.object({ user_id: z.uuid() }))`SELECT user_id FROM platform_auth.session_by_id(${input.sessionId})`),
    );
    if (owner === null) throw new NotFoundError('session', input.sessionId);
    return withScope(this.postgres.appPool, { userId: owner }, async (tx) => {
      const session = await tx.maybeOne(sql.type(z.object({ user_id: z.uuid(), organization_id: z.uuid(), revoked: z.boolean(), expired: z.boolean() }))`
        SELECT user_id, organization_id, revoked_at IS NOT NULL AS revoked, expires_at <= now() AS expired
        FROM sessions WHERE id = ${input.sessionId} FOR SHARE`);
      if (!session) throw new NotFoundError('session', input.sessionId);
      if (session.revoked) throw new TokenError('revoked', 'Session is revoked');
      if (session.expired) throw new TokenError('expired', 'Session has expired');
      if (input.familyId !== undefined) {
        const family = await tx.maybeOne(sql.type(z.object({ revoked: z.boolean() }))`
          SELECT bool_or(revoked_at IS NOT NULL) AS revoked FROM refresh_tokens
          WHERE family_id = ${input.familyId} AND session_id = ${input.sessionId}
          HAVING count(*) > 0`);
        if (!family) throw new NotFoundError('refresh token family', input.familyId);
        if (family.revoked) throw new TokenError('revoked', 'Refresh token family is revoked');
      }
      const refreshToken = await this.#insert(tx, {
        id: randomUUID(),
        sessionId: input.sessionId,
        familyId: input.familyId ?? randomUUID(),
        parentId: null,
        token,
      });
      return { token, refreshToken };
    });
  }

  /**
   * Exchanges a refresh token for its successor.
   *
   * - active → marked rotated, a child in the same family is returned;
   * - rotated less than `auth.refreshReuseGraceSeconds` ago → the child the
   *   winner received (`replayed: true`), so a client racing itself keeps one lineage;
   * - rotated earlier → reuse: the family and its session are revoked (committed), then
   *   {@link RefreshTokenReusedError} is thrown for the flow to audit as high risk.
   *
   * @throws ValidationError naming `token` when it is empty or over 512 characters
   * @throws TokenError `invalid` (unknown), `revoked` (token, family or session revoked),
   *   `expired` (token or session), `reused` (a plain TokenError when the grace
   *   ciphertext is gone; {@link RefreshTokenReusedError} on detected reuse)
   * @throws CryptoError when the grace ciphertext cannot be decrypted (key removed from the ring)
   * @param options.reuseEvents audit events of a detected reuse, written in the transaction that revokes the family
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async rotate(token: string, options: RotateOptions = {}): Promise<RotatedRefreshToken> {
    const presented = parseInput(tokenInput, token, 'token');
    const hash = hashToken(presented);
    const outcome = await withPostgresErrors(() =>
      this.postgres.appPool.transaction(async (tx) => {
        // The token's own tenant scope, named by its hash, in the same round trip that sets it
        // (an unknown hash sets none, and the rotation then finds nothing).
        // Same statement: the first refresh of a new session confirms it (sql/0116: its absolute expiry), before the
        // token's row is locked below — session first, then token, the lock order of a revocation (no deadlock).
        await tx.any(sql.type(z.object({ organization_id: z.string(), user_id: z.string(), confirmed: z.number() }))`
          SELECT set_config('platform.organization_id', o.organization_id::text, true) AS organization_id,
                 set_config('platform.user_id', o.user_id::text, true) AS user_id,
                 (SELECT count(*)::int FROM platform_auth.confirm_session_of_refresh_token(${sql.binary(hash)})) AS confirmed
          FROM platform_auth.refresh_token_owner(${sql.binary(hash)}) o`);
        const o = await this.#rotateLocked(tx, hash);
        // The reuse verdict and its audit events commit together: a crash cannot keep one without the other.
        if (o.kind === 'failed' && o.error instanceof RefreshTokenReusedError && options.reuseEvents) {
          await this.audit.appendWithin(tx, options.reuseEvents(o.error));
        }
        return o;
      }),
    );
    // Thrown only now, after commit: throwing inside would roll back the family revocation.
    if (outcome.kind === 'failed') throw outcome.error;
    return outcome.result;
  }

  async #rotateLocked(tx: DatabaseTransactionConnection, hash: Buffer): Promise<RotationOutcome> {
    const grace = this.config.auth.refreshReuseGraceSeconds;
    const row = await tx.maybeOne(sql.type(lockedRow)`
      SELECT rt.id, rt.session_id, rt.user_id, rt.organization_id, rt.family_id, rt.parent_id, rt.replaced_by,
             rt.created_at, rt.expires_at, rt.rotated_at, rt.revoked_at, rt.revoked_reason,
             rt.token_hash, rt.replacement_token_encrypted,
             coalesce(rt.rotated_at > now() - make_interval(secs => ${grace}), false) AS within_grace,
             rt.expires_at <= now() AS expired,
             s.revoked_at IS NOT NULL AS session_revoked,
             s.expires_at <= now() AS session_expired,
             s.last_seen_at + make_interval(mins => coalesce(oss.inactivity_timeout_minutes, ${DEFAULT_INACTIVITY_MINUTES})) <= now() AS session_idle,
             s.expires_at AS session_expires_at,
             s.access_token_jti
      FROM refresh_tokens rt
      JOIN sessions s ON s.id = rt.session_id
      LEFT JOIN organization_security_settings oss ON oss.organization_id = rt.organization_id
      WHERE rt.token_hash = ${sql.binary(hash)}
      FOR UPDATE OF rt`);
    if (!row) return { kind: 'failed', error: new TokenError('invalid', 'Unknown refresh token') };
    if (row.revoked_at !== null || row.session_revoked) {
      return { kind: 'failed', error: new TokenError('revoked', 'Refresh token is revoked') };
    }
    if (row.rotated_at !== null) return this.#alreadyRotated(tx, row);
    if (row.expired || row.session_expired) {
      return { kind: 'failed', error: new TokenError('expired', 'Refresh token has expired') };
    }
    // An idle session must not be revived by its refresh token; checked before rotating, so a refusal spends nothing.
    if (row.session_idle) return { kind: 'failed', error: new TokenError('expired', 'Session ended after inactivity') };

    const childToken = generateSecretToken();
    const child = await this.#insert(tx, {
      id: randomUUID(),
      sessionId: row.session_id,
      familyId: row.family_id,
      parentId: row.id,
      token: childToken,
    });
    const ciphertext = this.box.encrypt(childToken, replacementAad(row.id));
    await tx.query(sql.type(noRows)`
      UPDATE refresh_tokens
      SET rotated_at = now(), replaced_by = ${child.id}, replacement_token_encrypted = ${sql.binary(ciphertext)}
      WHERE id = ${row.id}`);
    // Erase grace ciphertexts of this family whose window has passed: they must not outlive it.
    await tx.query(sql.type(noRows)`
      UPDATE refresh_tokens SET replacement_token_encrypted = NULL
      WHERE family_id = ${row.family_id} AND id <> ${row.id}
        AND replacement_token_encrypted IS NOT NULL
        AND rotated_at <= now() - make_interval(secs => ${grace})`);
    return { kind: 'rotated', result: { token: childToken, refreshToken: child, replayed: false, session: sessionOf(row) } };
  }

  async #alreadyRotated(tx: DatabaseTransactionConnection, row: LockedRow): Promise<RotationOutcome> {
    if (row.within_grace) {
      if (row.replacement_token_encrypted === null || row.replaced_by === null) {
        // Inside the window but nothing to hand over (purged early or grace 0): refuse without punishing.
        return { kind: 'failed', error: new TokenError('reused', 'Refresh token was already rotated') };
      }
      const childToken = this.box.decryptString(row.replacement_token_encrypted, replacementAad(row.id));
      const child = await tx.one(sql.type(z.object({ ...shape, token_hash: z.instanceof(Buffer) }))`
        SELECT ${COLUMNS}, token_hash FROM refresh_tokens WHERE id = ${row.replaced_by}`);
      // Defence in depth: the ciphertext must decrypt to exactly the child the row points at.
      if (!tokenMatchesHash(childToken, child.token_hash)) {
        return { kind: 'failed', error: new TokenError('invalid', 'Refresh token replacement does not match') };
      }
      const { token_hash: _hash, ...childRow } = child;
      return { kind: 'rotated', result: { token: childToken, refreshToken: toRecord(childRow), replayed: true, session: sessionOf(row) } };
    }
    const revoked = await tx.oneFirst(sql.type(z.object({ count: z.number() }))`
      WITH revoked AS (
        UPDATE refresh_tokens
        SET revoked_at = now(), revoked_reason = 'reuse_detected', replacement_token_encrypted = NULL
        WHERE family_id = ${row.family_id} AND revoked_at IS NULL
        RETURNING 1
      )
      SELECT count(*)::int AS count FROM revoked`);
    const session = await tx.maybeOne(sql.type(z.object({ id: z.uuid() }))`
      UPDATE sessions SET revoked_at = now(), revoked_reason = 'refresh_token_reuse'
      WHERE id = ${row.session_id} AND revoked_at IS NULL
      RETURNING id`);
    // The Redis half is queued with the revocation, so a process that dies before evicting leaves it for the replay.
    const [queued] = await this.cacheRevocations.queueWithin(tx, [
      { userId: row.user_id, sessionId: row.session_id, accessTokenJti: row.access_token_jti, expiresAt: row.session_expires_at },
    ]);
    return {
      kind: 'failed',
      error: new RefreshTokenReusedError({
        familyId: row.family_id,
        sessionId: row.session_id,
        userId: row.user_id,
        organizationId: row.organization_id,
        revokedTokens: revoked,
        sessionRevoked: session !== null,
        accessTokenJti: row.access_token_jti,
        sessionExpiresAt: row.session_expires_at,
        cacheRevocationId: queued!.id,
      }),
    };
  }

  async #insert(
    tx: DatabaseTransactionConnection,
    input: { id: string; sessionId: string; familyId: string; parentId: string | null; token: string },
  ): Promise<RefreshTokenRecord> {
    const ttl = this.config.auth.sessionTtlSeconds;
    // Named: every sign-in and refresh runs it, and its text never varies.
    return tx.one(sql.prepared('pd_refresh_token_insert', recordRow)`
      INSERT INTO refresh_tokens (id, session_id, user_id, organization_id, token_hash, family_id, parent_id, expires_at)
      SELECT ${input.id}, s.id, s.user_id, s.organization_id, ${sql.binary(hashToken(input.token))},
             ${input.familyId}, ${input.parentId}, least(now() + make_interval(secs => ${ttl}), coalesce(s.absolute_expires_at, s.expires_at))
      FROM sessions s WHERE s.id = ${input.sessionId}
      RETURNING ${COLUMNS}`);
  }

  /**
   * Revokes every unrevoked token of a family (logout of one device).
   * @returns how many tokens were revoked
   * @throws ValidationError naming `familyId` / `reason`
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async revokeFamily(familyId: string, reason: string): Promise<number> {
    const input = parseInput(z.object({ familyId: z.uuid(), reason: reasonInput }), { familyId, reason });
    const owner = await withPostgresErrors(() =>
      this.postgres.appPool.maybeOneFirst(
        sql.type(z.object({ user_id: z.uuid() }))`SELECT user_id FROM platform_auth.refresh_family_owner(${input.familyId}) AS f(user_id)`,
      ),
    );
    if (owner === null) return 0;
    return withScope(this.postgres.appPool, { userId: owner }, (tx) =>
      tx.oneFirst(sql.type(z.object({ count: z.number() }))`
        WITH revoked AS (
          UPDATE refresh_tokens
          SET revoked_at = now(), revoked_reason = ${input.reason}, replacement_token_encrypted = NULL
          WHERE family_id = ${input.familyId} AND revoked_at IS NULL
          RETURNING 1
        )
        SELECT count(*)::int AS count FROM revoked`),
    );
  }

  /**
   * Erases grace-window ciphertexts whose window has passed (rotation already
   * does this per family; this catches families that never rotate again).
   * @returns how many ciphertexts were erased
   */
  @declareAccess({ systemJob: 'retention sweep run by the operator or a scheduler' })
  async purgeGraceSecrets(): Promise<number> {
    const grace = this.config.auth.refreshReuseGraceSeconds;
    return withScope(this.postgres.appPool, MAINTENANCE_SCOPE, (tx) =>
      tx.oneFirst(sql.type(z.object({ count: z.number() }))`
        WITH purged AS (
          UPDATE refresh_tokens SET replacement_token_encrypted = NULL
          WHERE replacement_token_encrypted IS NOT NULL
            AND rotated_at <= now() - make_interval(secs => ${grace})
          RETURNING 1
        )
        SELECT count(*)::int AS count FROM purged`),
    );
  }

  /**
   * Deletes tokens that expired more than `days` ago (their families can no
   * longer be refreshed, so reuse detection no longer needs them).
   * @returns how many rows were deleted
   * @throws ValidationError naming `days`
   */
  @declareAccess({ systemJob: 'retention sweep run by the operator or a scheduler' })
  async deleteExpiredOlderThan(days = 30): Promise<number> {
    const d = parseInput(z.number().int().min(1).max(3650), days, 'days');
    return withScope(this.postgres.appPool, MAINTENANCE_SCOPE, (tx) =>
      tx.oneFirst(sql.type(z.object({ count: z.number() }))`
        WITH deleted AS (
          DELETE FROM refresh_tokens WHERE expires_at < now() - make_interval(days => ${d}) RETURNING 1
        )
        SELECT count(*)::int AS count FROM deleted`),
    );
  }
}
