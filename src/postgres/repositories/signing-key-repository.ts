import { sql } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { parseInput } from '../../parse-input.js';
import { SecretBox } from '../../security/secret-box.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { PostgresConnection } from '../postgres-connection.js';
import { noRows } from './no-rows.js';
import { withPostgresErrors } from '../map-postgres-error.js';

/** JWS algorithms a signing key may use: RFC 7518 §3.4 (ES256) and RFC 8037 §3.1 (EdDSA with Ed25519). */
export const SIGNING_ALGORITHMS = ['EdDSA', 'ES256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** A stored access-token signing key; `privateKey` is the SecretBox envelope, never the key itself. */
export interface StoredSigningKey {
  readonly kid: string;
  readonly algorithm: SigningAlgorithm;
  readonly publicJwk: Readonly<Record<string, unknown>>;
  readonly privateKey: Buffer;
  readonly createdAt: Date;
  /** Null while the key signs; set when a newer key took over. */
  readonly retiredAt: Date | null;
  /** Until when a retired key is published and verifies. */
  readonly publishUntil: Date | null;
}

/** A new key to store by {@link SigningKeyRepository.rotate}. */
export interface NewSigningKey {
  readonly kid: string;
  readonly algorithm: SigningAlgorithm;
  readonly publicJwk: Readonly<Record<string, unknown>>;
  readonly privateKey: Buffer;
}

const keyRow = z
  .object({
    kid: z.string(),
    algorithm: z.enum(SIGNING_ALGORITHMS),
    public_jwk: z.record(z.string(), z.unknown()),
    private_key: z.instanceof(Buffer),
    created_at: z.date(),
    retired_at: z.date().nullable(),
    publish_until: z.date().nullable(),
  })
  .transform((r): StoredSigningKey => ({
    kid: r.kid,
    algorithm: r.algorithm,
    publicJwk: r.public_jwk,
    privateKey: r.private_key,
    createdAt: r.created_at,
    retiredAt: r.retired_at,
    publishUntil: r.publish_until,
  }));

const rotateInput = z
  .object({
    /** An active key younger than this is kept (another process rotated a moment ago). */
    minAgeSeconds: z
      .number()
      .int()
      .min(0)
      .max(10 * 365 * 86_400),
    /** How long the retired key stays published: the longest a token it signed may still be valid. */
    publishRetiredForSeconds: z
      .number()
      .int()
      .min(1)
      .max(30 * 86_400),
  })
  .strict();
const newKeyInput = z
  .object({
    kid: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
    algorithm: z.enum(SIGNING_ALGORITHMS),
    publicJwk: z.record(z.string(), z.unknown()),
    privateKey: z.instanceof(Buffer),
  })
  .strict();

const COLUMNS = sql.fragment`kid, algorithm, public_jwk, private_key, created_at, retired_at, publish_until`;
/** `pg_advisory_xact_lock` key of rotation: any constant unique to this table's writers. */
const ROTATION_LOCK = sql.fragment`hashtextextended('platform.signing_keys.rotate', 0)`;

/**
 * The access-token signing keys (migration 0111). Not tenant data: one ring per
 * deployment, read and rotated by the platform's token machinery.
 *
 * Race-safety: {@link rotate} runs under a transaction-scoped advisory lock and
 * re-reads the active key inside it, and the partial unique index
 * `signing_keys_one_active` refuses a second active key whatever happens; two
 * processes rotating at once therefore create one key, and both return it.
 */
@injectable()
@accessControlled
export class SigningKeyRepository {
  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(SecretBox) private readonly box: SecretBox,
  ) {}

  /** Every key that signs or still verifies (active, or retired and published until later than now), newest first. */
  @declareAccess({ preTenant: 'token verification and the public JWKS: no caller is known yet' })
  async published(): Promise<readonly StoredSigningKey[]> {
    return withPostgresErrors(() =>
      this.postgres.appPool.any(sql.type(keyRow)`
        SELECT ${COLUMNS} FROM signing_keys
        WHERE retired_at IS NULL OR publish_until > now()
        ORDER BY created_at DESC, kid`),
    );
  }

  /**
   * Makes `create()` the active key unless an active key younger than
   * `minAgeSeconds` exists (then that one is returned and `create` is not
   * called). The previous key is retired and stays published for
   * `publishRetiredForSeconds`.
   * @returns the active key after the call, and whether this call created it
   * @throws ValidationError naming the field; ConflictError (`signing_keys_one_active`) cannot happen under the lock
   */
  @declareAccess({ systemJob: "key rotation is the platform's own machinery" })
  async rotate(
    options: z.input<typeof rotateInput>,
    create: () => Promise<NewSigningKey>,
  ): Promise<{ readonly key: StoredSigningKey; readonly created: boolean }> {
    const o = parseInput(rotateInput, options);
    return withPostgresErrors(() =>
      this.postgres.appPool.transaction(async (tx) => {
        await tx.query(sql.type(z.object({ locked: z.string() }))`SELECT pg_advisory_xact_lock(${ROTATION_LOCK})::text AS locked`);
        const active = await tx.maybeOne(sql.type(keyRow)`
          SELECT ${COLUMNS} FROM signing_keys WHERE retired_at IS NULL FOR UPDATE`);
        if (active && Date.now() - active.createdAt.getTime() < o.minAgeSeconds * 1000) return { key: active, created: false };
        const n = parseInput(newKeyInput, await create(), 'key');
        if (active) {
          await tx.query(sql.type(noRows)`
            UPDATE signing_keys SET retired_at = now(), publish_until = now() + make_interval(secs => ${o.publishRetiredForSeconds})
            WHERE kid = ${active.kid}`);
        }
        const key = await tx.one(sql.type(keyRow)`
          INSERT INTO signing_keys (kid, algorithm, public_jwk, private_key)
          VALUES (${n.kid}, ${n.algorithm}, ${sql.jsonb(n.publicJwk as never)}, ${sql.binary(n.privateKey)})
          RETURNING ${COLUMNS}`);
        return { key, created: true };
      }),
    );
  }

  /**
   * Deletes keys whose publication ended more than `graceSeconds` ago (they verify nothing any more).
   * @returns how many were deleted
   */
  @declareAccess({ systemJob: "retention of dead keys is the platform's own machinery" })
  async deleteDead(graceSeconds = 86_400): Promise<number> {
    const grace = parseInput(
      z
        .number()
        .int()
        .min(0)
        .max(365 * 86_400),
      graceSeconds,
      'graceSeconds',
    );
    const result = await withPostgresErrors(() =>
      this.postgres.appPool.query(sql.type(noRows)`DELETE FROM signing_keys WHERE publish_until < now() - make_interval(secs => ${grace})`),
    );
    return result.rowCount;
  }

  /**
   * SecretBox key rotation: re-encrypts every private key not under the active key (AAD
   * `signing_keys:<kid>:private_key`). A key that does not decrypt is left as it is and named.
   * @returns how many were rewritten, and the kids that failed
   */
  @declareAccess({ systemJob: 'key rotation run by the operator' })
  async reencryptAll(): Promise<{ readonly rewritten: number; readonly failedKids: readonly string[] }> {
    return withPostgresErrors(() =>
      this.postgres.appPool.transaction(async (tx) => {
        const rows = await tx.any(sql.type(z.object({ kid: z.string(), private_key: z.instanceof(Buffer) }))`
          SELECT kid, private_key FROM signing_keys ORDER BY kid FOR UPDATE`);
        let rewritten = 0;
        const failedKids: string[] = [];
        for (const row of rows.filter((r) => this.box.needsReencrypt(r.private_key))) {
          let envelope: Buffer;
          try {
            envelope = this.box.reencrypt(row.private_key, `signing_keys:${row.kid}:private_key`);
          } catch {
            failedKids.push(row.kid);
            continue;
          }
          await tx.query(sql.type(noRows)`UPDATE signing_keys SET private_key = ${sql.binary(envelope)} WHERE kid = ${row.kid}`);
          rewritten++;
        }
        return { rewritten, failedKids };
      }),
    );
  }
}
