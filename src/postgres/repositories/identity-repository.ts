import { randomUUID } from 'node:crypto';
import { sql, type DatabaseTransactionConnection } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { NotFoundError } from '../../errors.js';
import { SecretBox } from '../../security/secret-box.js';
import { PostgresConnection } from '../postgres-connection.js';
import { MAINTENANCE_SCOPE, scopedPool } from '../with-scope.js';
import { parseInput, uuidInput } from '../../parse-input.js';
import { reencryptColumns, type ReencryptResult } from './reencrypt-columns.js';
import { withPostgresErrors } from '../map-postgres-error.js';
import { withUserScope } from './with-user-scope.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

export const IDENTITY_PROVIDERS = ['google', 'microsoft', 'facebook', 'apple', 'discord', 'github'] as const;
export type IdentityProvider = (typeof IDENTITY_PROVIDERS)[number];

/** A linked provider account. Never carries the provider tokens (see {@link IdentityRepository.getTokens}). */
export interface IdentityRecord {
  readonly id: string;
  readonly userId: string;
  readonly provider: IdentityProvider;
  readonly providerUserId: string;
  readonly email: string | null;
  /** The handle the provider shows (Discord username, GitHub login …): display only, it may change; the subject is the key. */
  readonly providerUsername: string | null;
  /** Discord's legacy four-digit discriminator (`"0"` for accounts moved to unique usernames in 2023). */
  readonly providerDiscriminator: string | null;
  readonly hasAccessToken: boolean;
  readonly hasRefreshToken: boolean;
  readonly tokenExpiresAt: Date | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface ProviderTokens {
  readonly accessToken: string | null;
  readonly refreshToken: string | null;
  readonly tokenExpiresAt: Date | null;
}

const recordRow = z
  .object({
    id: z.uuid(),
    user_id: z.uuid(),
    provider: z.enum(IDENTITY_PROVIDERS),
    provider_user_id: z.string(),
    email: z.string().nullable(),
    provider_username: z.string().nullable(),
    provider_discriminator: z.string().nullable(),
    has_access_token: z.boolean(),
    has_refresh_token: z.boolean(),
    token_expires_at: z.date().nullable(),
    created_at: z.date(),
    updated_at: z.date(),
  })
  .transform((r): IdentityRecord => ({
    id: r.id,
    userId: r.user_id,
    provider: r.provider,
    providerUserId: r.provider_user_id,
    email: r.email,
    providerUsername: r.provider_username,
    providerDiscriminator: r.provider_discriminator,
    hasAccessToken: r.has_access_token,
    hasRefreshToken: r.has_refresh_token,
    tokenExpiresAt: r.token_expires_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }));
const secretRow = z.object({
  id: z.uuid(),
  access_token_encrypted: z.instanceof(Buffer).nullable(),
  refresh_token_encrypted: z.instanceof(Buffer).nullable(),
  token_expires_at: z.date().nullable(),
});

const COLUMNS = sql.fragment`id, user_id, provider, provider_user_id, email::text AS email, provider_username, provider_discriminator,
  access_token_encrypted IS NOT NULL AS has_access_token, refresh_token_encrypted IS NOT NULL AS has_refresh_token,
  token_expires_at, created_at, updated_at`;

const providerInput = z.enum(IDENTITY_PROVIDERS);
const providerUserIdInput = z.string().min(1).max(255);
const providerToken = z.string().min(1).max(8192);
/** The handle the provider shows (Discord username, GitHub login …). */
export const providerUsernameInput = z.string().trim().min(1).max(255);
/** Digits only, 1–4 (Discord: `0001`–`9999`, or `0` after the 2023 username migration). */
export const providerDiscriminatorInput = z.string().regex(/^[0-9]{1,4}$/, 'must be 1–4 digits');
const tokensShape = {
  accessToken: providerToken.nullable().optional(),
  refreshToken: providerToken.nullable().optional(),
  tokenExpiresAt: z.date().nullable().optional(),
  /** The provider's current handle; refreshed at each sign-in since the person may rename themselves there. */
  providerUsername: providerUsernameInput.nullable().optional(),
  providerDiscriminator: providerDiscriminatorInput.nullable().optional(),
};
const linkInput = z
  .object({
    provider: providerInput,
    providerUserId: providerUserIdInput,
    email: z.email().max(320).optional(),
    ...tokensShape,
  })
  .strict();
export type LinkIdentityInput = z.input<typeof linkInput>;
const tokensInput = z.object(tokensShape).strict();
export type UpdateProviderTokensInput = z.input<typeof tokensInput>;

/** AAD of a provider token: the row and the column, so a ciphertext cannot be moved to another row or column. */
function aad(id: string, column: 'access_token' | 'refresh_token'): string {
  return `identities:${id}:${column}`;
}

/**
 * OAuth provider identities linked to users; provider tokens encrypted with
 * {@link SecretBox} (AAD `identities:<id>:access_token|refresh_token`).
 *
 * Pools: `findByProvider` is the OAuth callback, before anyone is signed in,
 * so it runs on the owner pool. Everything keyed by a user runs on the
 * application pool scoped to that user (`withUserScope`): identities belong to
 * a person, not to an organization. `reencryptAll` is maintenance (owner).
 */
@injectable()
@accessControlled
export class IdentityRepository {
  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(SecretBox) private readonly box: SecretBox,
  ) {}

  /**
   * Links a provider account to `userId`.
   * @throws ValidationError naming the invalid field (`provider`, `providerUserId`, `email` …)
   * @throws ConflictError `identities_provider_user_key` (account linked to someone) or
   *   `identities_user_provider_key` (user already has an account of that provider)
   */
  @declareAccess({ preTenant: 'OAuth sign-in of OAuthSignIn' })
  async link(userId: string, input: LinkIdentityInput): Promise<IdentityRecord> {
    const user = parseInput(uuidInput, userId, 'userId');
    const data = parseInput(linkInput, input);
    return withUserScope(this.postgres.appPool, user, (tx) => this.#link(tx, user, data));
  }

  /**
   * {@link link} in the caller's transaction `tx`, which must be in the user's
   * scope: an OAuth first sign-in links the identity with the account it creates
   * (`UserRepository.createWith`), so neither exists without the other.
   * @throws ValidationError naming the invalid field; ConflictError as {@link link}
   */
  @declareAccess({ preTenant: 'OAuth sign-in of OAuthSignIn' })
  async linkWithin(tx: DatabaseTransactionConnection, userId: string, input: LinkIdentityInput): Promise<IdentityRecord> {
    const user = parseInput(uuidInput, userId, 'userId');
    return this.#link(tx, user, parseInput(linkInput, input));
  }

  async #link(tx: DatabaseTransactionConnection, user: string, data: z.output<typeof linkInput>): Promise<IdentityRecord> {
    const id = randomUUID();
    const access = data.accessToken ? sql.binary(this.box.encrypt(data.accessToken, aad(id, 'access_token'))) : null;
    const refresh = data.refreshToken ? sql.binary(this.box.encrypt(data.refreshToken, aad(id, 'refresh_token'))) : null;
    return tx.one(sql.type(recordRow)`
      INSERT INTO identities (id, user_id, provider, provider_user_id, email, provider_username, provider_discriminator,
                              access_token_encrypted, refresh_token_encrypted, token_expires_at)
      VALUES (${id}, ${user}, ${data.provider}, ${data.providerUserId}, ${data.email ?? null}, ${data.providerUsername ?? null},
              ${data.providerDiscriminator ?? null}, ${access}, ${refresh}, ${data.tokenExpiresAt ? sql.timestamp(data.tokenExpiresAt) : null})
      RETURNING ${COLUMNS}`);
  }

  /**
   * The identity for a provider account, or `undefined` (OAuth sign-in lookup).
   * @throws ValidationError naming `provider` / `providerUserId`
   */
  @declareAccess({ preTenant: 'OAuth sign-in of OAuthSignIn' })
  async findByProvider(provider: IdentityProvider, providerUserId: string): Promise<IdentityRecord | undefined> {
    const input = parseInput(z.object({ provider: providerInput, providerUserId: providerUserIdInput }), { provider, providerUserId });
    const row = await withPostgresErrors(() =>
      this.postgres.appPool.maybeOne(sql.type(recordRow)`
        SELECT ${COLUMNS} FROM platform_auth.identity_by_provider(${input.provider}, ${input.providerUserId})`),
    );
    return row ?? undefined;
  }

  /**
   * The user's linked identities, oldest first, without tokens (a user has at most one per provider).
   * @throws ValidationError naming `userId`
   */
  @declareAccess({ preTenant: 'OAuth sign-in of OAuthSignIn' })
  async listForUser(userId: string): Promise<readonly IdentityRecord[]> {
    const user = parseInput(uuidInput, userId, 'userId');
    return withUserScope(this.postgres.appPool, user, (tx) =>
      tx.any(sql.type(recordRow)`SELECT ${COLUMNS} FROM identities WHERE user_id = ${user} ORDER BY created_at, id`),
    );
  }

  /**
   * Decrypts the provider tokens of one of the user's identities.
   * @throws ValidationError naming `userId` / `provider`
   * @throws NotFoundError when the user has no identity of that provider
   * @throws CryptoError when a ciphertext does not authenticate (moved between rows, tampered, key missing)
   */
  @declareAccess({ preTenant: 'OAuth sign-in of OAuthSignIn' })
  async getTokens(userId: string, provider: IdentityProvider): Promise<ProviderTokens> {
    const input = parseInput(z.object({ userId: z.uuid(), provider: providerInput }), { userId, provider });
    const row = await withUserScope(this.postgres.appPool, input.userId, (tx) =>
      tx.maybeOne(sql.type(secretRow)`
        SELECT id, access_token_encrypted, refresh_token_encrypted, token_expires_at
        FROM identities WHERE user_id = ${input.userId} AND provider = ${input.provider}`),
    );
    if (!row) throw new NotFoundError('identity', input.provider);
    return {
      accessToken: row.access_token_encrypted ? this.box.decryptString(row.access_token_encrypted, aad(row.id, 'access_token')) : null,
      refreshToken: row.refresh_token_encrypted ? this.box.decryptString(row.refresh_token_encrypted, aad(row.id, 'refresh_token')) : null,
      tokenExpiresAt: row.token_expires_at,
    };
  }

  /**
   * Replaces provider tokens (after a provider refresh or sign-in) and the provider handle; omitted fields keep their value, `null` clears.
   * @throws ValidationError naming the invalid field
   * @throws NotFoundError when the user has no identity of that provider
   */
  @declareAccess({ preTenant: 'OAuth sign-in of OAuthSignIn' })
  async updateTokens(userId: string, provider: IdentityProvider, tokens: UpdateProviderTokensInput): Promise<IdentityRecord> {
    const input = parseInput(z.object({ userId: z.uuid(), provider: providerInput }), { userId, provider });
    const data = parseInput(tokensInput, tokens);
    const row = await withUserScope(this.postgres.appPool, input.userId, async (tx) => {
      const current = await tx.maybeOne(sql.type(z.object({ id: z.uuid() }))`
        SELECT id FROM identities WHERE user_id = ${input.userId} AND provider = ${input.provider} FOR UPDATE`);
      if (!current) return null;
      const sets = [
        data.accessToken === undefined
          ? undefined
          : sql.fragment`access_token_encrypted = ${data.accessToken === null ? null : sql.binary(this.box.encrypt(data.accessToken, aad(current.id, 'access_token')))}`,
        data.refreshToken === undefined
          ? undefined
          : sql.fragment`refresh_token_encrypted = ${data.refreshToken === null ? null : sql.binary(this.box.encrypt(data.refreshToken, aad(current.id, 'refresh_token')))}`,
        data.tokenExpiresAt === undefined
          ? undefined
          : sql.fragment`token_expires_at = ${data.tokenExpiresAt === null ? null : sql.timestamp(data.tokenExpiresAt)}`,
        data.providerUsername === undefined ? undefined : sql.fragment`provider_username = ${data.providerUsername}`,
        data.providerDiscriminator === undefined ? undefined : sql.fragment`provider_discriminator = ${data.providerDiscriminator}`,
      ].filter((s) => s !== undefined);
      const assignments = sets.length > 0 ? sets : [sql.fragment`updated_at = now()`];
      return tx.one(sql.type(recordRow)`
        UPDATE identities SET ${sql.join(assignments, sql.fragment`, `)} WHERE id = ${current.id} RETURNING ${COLUMNS}`);
    });
    if (!row) throw new NotFoundError('identity', input.provider);
    return row;
  }

  /**
   * Unlinks the user's identity of `provider`.
   * @returns true when an identity was removed
   * @throws ValidationError naming `userId` / `provider`
   */
  @declareAccess({ preTenant: 'OAuth sign-in of OAuthSignIn' })
  async unlink(userId: string, provider: IdentityProvider): Promise<boolean> {
    const input = parseInput(z.object({ userId: z.uuid(), provider: providerInput }), { userId, provider });
    const row = await withUserScope(this.postgres.appPool, input.userId, (tx) =>
      tx.maybeOne(sql.type(z.object({ id: z.uuid() }))`
        DELETE FROM identities WHERE user_id = ${input.userId} AND provider = ${input.provider} RETURNING id`),
    );
    return row !== null;
  }

  /**
   * Key rotation: re-encrypts every provider token not under the active key, in batches.
   * @returns rows rewritten, and ids of rows skipped because a ciphertext does not authenticate
   * @throws ValidationError naming `batchSize`
   */
  @declareAccess({ systemJob: 'key rotation run by the operator' })
  async reencryptAll(batchSize = 500): Promise<ReencryptResult> {
    return reencryptColumns(scopedPool(this.postgres.appPool, MAINTENANCE_SCOPE), this.box, {
      table: 'identities',
      columns: [
        { column: 'access_token_encrypted', aad: (id) => aad(id, 'access_token') },
        { column: 'refresh_token_encrypted', aad: (id) => aad(id, 'refresh_token') },
      ],
      batchSize,
    });
  }
}
