import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { TokenError } from '../../errors.js';
import { parseInput, uuidInput } from '../../parse-input.js';
import { hashToken } from '../../security/secret-token.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { PostgresConnection } from '../postgres-connection.js';
import { MAINTENANCE_SCOPE, scopedPool, withScope } from '../with-scope.js';
import { AuditRepository, type AuditEventInput } from './audit-repository.js';
import { noRows } from './no-rows.js';
import { withPostgresErrors } from '../map-postgres-error.js';
import { withUserScope } from './with-user-scope.js';

export const WEBAUTHN_CEREMONIES = ['registration', 'authentication'] as const;
export type WebAuthnCeremony = (typeof WEBAUTHN_CEREMONIES)[number];

/** Transports a client may report (WebAuthn L2 §5.8.4, L3 adds `hybrid`, `smart-card`). */
export const AUTHENTICATOR_TRANSPORTS = ['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'] as const;
export type AuthenticatorTransport = (typeof AUTHENTICATOR_TRANSPORTS)[number];

/** A registered passkey as the user sees it (no key material). */
export interface PasskeySummary {
  readonly id: string;
  /** base64url credential id (WebAuthn L2 §5.1 `rawId`). */
  readonly credentialId: string;
  readonly friendlyName: string;
  readonly transports: readonly AuthenticatorTransport[];
  /** Flag BE: the credential may be synced to other devices (a multi-device passkey). */
  readonly backupEligible: boolean;
  /** Flag BS: it is backed up now. */
  readonly backedUp: boolean;
  readonly aaguid: string | null;
  readonly organizationId: string | null;
  readonly lastUsedAt: Date | null;
  readonly createdAt: Date;
}

/** A passkey with what the verifier needs: the COSE public key and the last signature counter. */
export interface PasskeyRecord extends PasskeySummary {
  readonly userId: string;
  readonly publicKey: Uint8Array;
  readonly signCount: number;
}

export interface NewPasskey {
  readonly userId: string;
  readonly organizationId?: string | undefined;
  readonly credentialId: string;
  readonly publicKey: Uint8Array;
  readonly signCount: number;
  readonly transports: readonly AuthenticatorTransport[];
  readonly backupEligible: boolean;
  readonly backedUp: boolean;
  readonly aaguid?: string | undefined;
  readonly friendlyName: string;
}

const row = z
  .object({
    id: z.uuid(),
    user_id: z.uuid(),
    organization_id: z.uuid().nullable(),
    credential_id: z.string(),
    public_key: z.instanceof(Buffer),
    sign_count: z.number(),
    transports: z.array(z.string()),
    backup_eligible: z.boolean(),
    backed_up: z.boolean(),
    aaguid: z.string().nullable(),
    friendly_name: z.string(),
    last_used_at: z.date().nullable(),
    created_at: z.date(),
  })
  .transform((r): PasskeyRecord => ({
    id: r.id,
    userId: r.user_id,
    organizationId: r.organization_id,
    credentialId: r.credential_id,
    publicKey: new Uint8Array(r.public_key),
    signCount: r.sign_count,
    transports: r.transports.filter((t): t is AuthenticatorTransport => (AUTHENTICATOR_TRANSPORTS as readonly string[]).includes(t)),
    backupEligible: r.backup_eligible,
    backedUp: r.backed_up,
    aaguid: r.aaguid,
    friendlyName: r.friendly_name,
    lastUsedAt: r.last_used_at,
    createdAt: r.created_at,
  }));

const challengeRow = z.object({ id: z.uuid(), user_id: z.uuid().nullable(), consumed_at: z.date().nullable() });

const COLUMNS = sql.fragment`id, user_id, organization_id, credential_id, public_key, sign_count, transports, backup_eligible, backed_up,
  aaguid::text AS aaguid, friendly_name, last_used_at, created_at`;
const credentialIdInput = z.string().regex(/^[A-Za-z0-9_-]{16,1400}$/, 'must be a base64url credential id');
const auditInput = z.array(z.unknown()).max(10);
const newPasskeyInput = z
  .object({
    userId: z.uuid(),
    organizationId: z.uuid().optional(),
    credentialId: credentialIdInput,
    publicKey: z.instanceof(Uint8Array).refine((k) => k.length >= 16 && k.length <= 2048, 'must be a COSE key of 16–2048 bytes'),
    signCount: z.number().int().min(0).max(4_294_967_295),
    transports: z.array(z.enum(AUTHENTICATOR_TRANSPORTS)).max(8),
    backupEligible: z.boolean(),
    backedUp: z.boolean(),
    aaguid: z.uuid().optional(),
    friendlyName: z.string().trim().min(1).max(100),
  })
  .strict();

/** Bytes of a ceremony challenge: WebAuthn L2 §13.4.3 asks for at least 16 random bytes. */
const CHALLENGE_BYTES = 32;

/**
 * WebAuthn credentials and ceremony challenges (sql/0100).
 *
 * Challenges: 32 random bytes, base64url, of which only the SHA-256 is
 * stored; {@link consumeChallenge} uses one with ONE atomic UPDATE (single
 * use, expiry checked in the same statement). Credentials: a person's rows
 * under user scope; the sign-in lookup by credential id runs through
 * `platform_auth.passkey_by_credential_id` (pre-tenant). The signature counter
 * only moves forward, by a compare-and-set ({@link recordUse}).
 */
@injectable()
@accessControlled
export class PasskeyRepository {
  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(AuditRepository) private readonly auditLog: AuditRepository,
  ) {}

  /**
   * Creates a ceremony challenge. `userId` is required for registration and for
   * a sign-in whose user is known; a usernameless sign-in passes none.
   * @returns the challenge (base64url; put it in the options, never store it) and its expiry
   * @throws ValidationError naming `userId` / `ceremony` / `ttlSeconds`; ConflictError when the user does not exist
   */
  @declareAccess({ preTenant: 'passkey flows (PasskeyService/PasskeySignIn), which check the caller first' })
  async createChallenge(userId: string | undefined, ceremony: WebAuthnCeremony, ttlSeconds: number): Promise<{ challenge: string; expiresAt: Date }> {
    const input = parseInput(z.object({ userId: z.uuid().optional(), ceremony: z.enum(WEBAUTHN_CEREMONIES), ttlSeconds: z.number().int().min(1).max(3600) }), {
      userId,
      ceremony,
      ttlSeconds,
    });
    if (input.ceremony === 'registration' && input.userId === undefined) parseInput(uuidInput, userId, 'userId');
    const challenge = randomBytes(CHALLENGE_BYTES).toString('base64url');
    const expiresAt = new Date(Date.now() + input.ttlSeconds * 1000);
    // No RETURNING: a usernameless row is visible to no SELECT policy of the application role.
    await withScope(this.postgres.appPool, input.userId === undefined ? {} : { userId: input.userId }, (tx) =>
      tx.query(sql.type(noRows)`
        INSERT INTO webauthn_challenges (id, user_id, purpose, challenge_hash, expires_at)
        VALUES (${randomUUID()}, ${input.userId ?? null}, ${input.ceremony}, ${sql.binary(hashToken(challenge))},
                ${sql.timestamp(expiresAt)})`),
    );
    return { challenge, expiresAt };
  }

  /**
   * Uses a challenge once: ONE `UPDATE … WHERE consumed_at IS NULL AND expires_at > now()`.
   * @returns the user the challenge was created for (`null` for a usernameless sign-in)
   * @throws ValidationError naming `ceremony` / `challenge`
   * @throws TokenError `invalid` (unknown, or another ceremony), `consumed`, `expired`
   */
  @declareAccess({ preTenant: 'passkey flows (PasskeyService/PasskeySignIn), which check the caller first' })
  async consumeChallenge(ceremony: WebAuthnCeremony, challenge: string): Promise<{ userId: string | null }> {
    const input = parseInput(z.object({ ceremony: z.enum(WEBAUTHN_CEREMONIES), challenge: z.string().min(1).max(512) }), { ceremony, challenge });
    const hash = sql.binary(hashToken(input.challenge));
    const used = await withPostgresErrors(() =>
      this.postgres.appPool.maybeOne(sql.type(challengeRow)`
        SELECT id, user_id, consumed_at FROM platform_auth.consume_webauthn_challenge(${input.ceremony}, ${hash})`),
    );
    if (used) return { userId: used.user_id };
    const existing = await withPostgresErrors(() =>
      this.postgres.appPool.maybeOne(sql.type(challengeRow)`
        SELECT id, user_id, consumed_at FROM platform_auth.webauthn_challenge(${input.ceremony}, ${hash})`),
    );
    if (!existing) throw new TokenError('invalid', 'Unknown WebAuthn challenge');
    if (existing.consumed_at !== null) throw new TokenError('consumed', 'WebAuthn challenge was already used');
    throw new TokenError('expired', 'WebAuthn challenge has expired');
  }

  /**
   * Stores a verified credential and the events announcing it, in one transaction.
   * @throws ValidationError naming the field; ConflictError `passkey_credentials_credential_id_key` when the id is registered
   */
  @declareAccess({ preTenant: 'passkey flows (PasskeyService/PasskeySignIn), which check the caller first' })
  async register(passkey: NewPasskey, audit: readonly AuditEventInput[] = []): Promise<PasskeyRecord> {
    const p = parseInput(newPasskeyInput, passkey);
    parseInput(auditInput, audit, 'audit');
    return withUserScope(this.postgres.appPool, p.userId, async (tx) => {
      const created = await tx.one(sql.type(row)`
        INSERT INTO passkey_credentials (user_id, organization_id, credential_id, public_key, sign_count, transports,
                                         backup_eligible, backed_up, aaguid, friendly_name)
        VALUES (${p.userId}, ${p.organizationId ?? null}, ${p.credentialId}, ${sql.binary(Buffer.from(p.publicKey))}, ${p.signCount},
                ${sql.array(p.transports, 'text')}, ${p.backupEligible}, ${p.backedUp}, ${p.aaguid ?? null}, ${p.friendlyName})
        RETURNING ${COLUMNS}`);
      await this.auditLog.appendWithin(tx, audit);
      return created;
    });
  }

  /**
   * The passkey with this credential id, whoever's it is (the sign-in lookup).
   * @throws ValidationError naming `credentialId`
   */
  @declareAccess({ preTenant: 'passkey flows (PasskeyService/PasskeySignIn), which check the caller first' })
  async findByCredentialId(credentialId: string): Promise<PasskeyRecord | undefined> {
    const id = parseInput(credentialIdInput, credentialId, 'credentialId');
    const found = await withPostgresErrors(() =>
      this.postgres.appPool.maybeOne(sql.type(row)`SELECT ${COLUMNS} FROM platform_auth.passkey_by_credential_id(${id})`),
    );
    return found ?? undefined;
  }

  /**
   * The user's passkeys, oldest first.
   * @throws ValidationError naming `userId`
   */
  @declareAccess({ preTenant: 'passkey flows (PasskeyService/PasskeySignIn), which check the caller first' })
  async listForUser(userId: string): Promise<readonly PasskeyRecord[]> {
    const id = parseInput(uuidInput, userId, 'userId');
    return withUserScope(this.postgres.appPool, id, (tx) =>
      tx.any(sql.type(row)`SELECT ${COLUMNS} FROM passkey_credentials WHERE user_id = ${id} ORDER BY created_at, id`),
    );
  }

  /**
   * Records a verified assertion: the counter moves to `newCounter` only if it
   * is greater than the stored one, or both are 0 (an authenticator without a
   * counter) — WebAuthn L2 §6.1.1 and §7.2 step 21 — by ONE compare-and-set,
   * so two requests replaying the same assertion cannot both pass. The events
   * of the outcome (`onSuccess` or `onRegression`) are written in the same transaction.
   * @returns true when the use was recorded, false on a counter regression
   * @throws ValidationError naming the field
   */
  @declareAccess({ preTenant: 'passkey flows (PasskeyService/PasskeySignIn), which check the caller first' })
  async recordUse(
    userId: string,
    passkeyId: string,
    use: { readonly newCounter: number; readonly backedUp: boolean },
    audit: { readonly onSuccess: readonly AuditEventInput[]; readonly onRegression: readonly AuditEventInput[] },
  ): Promise<boolean> {
    const input = parseInput(
      z.object({ userId: z.uuid(), passkeyId: z.uuid(), newCounter: z.number().int().min(0).max(4_294_967_295), backedUp: z.boolean() }),
      { userId, passkeyId, ...use },
    );
    return withUserScope(this.postgres.appPool, input.userId, async (tx) => {
      const updated = await tx.maybeOne(sql.type(z.object({ id: z.uuid() }))`
        UPDATE passkey_credentials SET sign_count = ${input.newCounter}, backed_up = ${input.backedUp}, last_used_at = now()
        WHERE id = ${input.passkeyId} AND user_id = ${input.userId}
          AND (sign_count < ${input.newCounter} OR (sign_count = 0 AND ${input.newCounter}::bigint = 0))
        RETURNING id`);
      await this.auditLog.appendWithin(tx, updated ? audit.onSuccess : audit.onRegression);
      return updated !== null;
    });
  }

  /**
   * Deletes one of the user's passkeys with the events announcing it, in one transaction.
   * @returns false when the user has no passkey with that id
   * @throws ValidationError naming `userId` / `passkeyId`
   */
  @declareAccess({ preTenant: 'passkey flows (PasskeyService/PasskeySignIn), which check the caller first' })
  async remove(userId: string, passkeyId: string, audit: readonly AuditEventInput[] = []): Promise<boolean> {
    const input = parseInput(z.object({ userId: z.uuid(), passkeyId: z.uuid() }), { userId, passkeyId });
    return withUserScope(this.postgres.appPool, input.userId, async (tx) => {
      const removed = await tx.maybeOne(sql.type(z.object({ id: z.uuid() }))`
        DELETE FROM passkey_credentials WHERE id = ${input.passkeyId} AND user_id = ${input.userId} RETURNING id`);
      if (removed) await this.auditLog.appendWithin(tx, audit);
      return removed !== null;
    });
  }

  /**
   * Deletes challenges that expired more than `days` ago.
   * @returns how many rows were deleted
   * @throws ValidationError naming `days`
   */
  @declareAccess({ systemJob: 'retention sweep run by the operator or a scheduler' })
  async deleteExpiredChallengesOlderThan(days = 1): Promise<number> {
    const d = parseInput(z.number().int().min(0).max(3650), days, 'days');
    return scopedPool(this.postgres.appPool, MAINTENANCE_SCOPE).oneFirst(sql.type(z.object({ count: z.number() }))`
      WITH deleted AS (DELETE FROM webauthn_challenges WHERE expires_at < now() - make_interval(days => ${d}) RETURNING 1)
      SELECT count(*)::int AS count FROM deleted`);
  }
}
