import { randomUUID } from 'node:crypto';
import { sql, type DatabaseTransactionConnection } from 'slonik';
import { inject, injectable } from 'tsyringe';
import type { IntegrationTokenOptions, IntegrationTokenRefresher } from '../../integration-token-options.js';
import { z } from 'zod';
import { NotFoundError, PlatformError } from '../../errors.js';
import { INTEGRATION_TOKEN_OPTIONS } from '../../tokens.js';
import { withTimeout } from '../../with-timeout.js';
import { AuditRepository } from './audit-repository.js';
import { SecretBox } from '../../security/secret-box.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { PostgresConnection } from '../postgres-connection.js';
import { MAINTENANCE_SCOPE, scopedPool } from '../with-scope.js';
import { withTenant } from '../with-tenant.js';
import { type KeysetPage, type KeysetPageInput, microsToTimestamp, parseKeysetPage, sortMicros, toKeysetPage } from './keyset-page.js';
import { parseInput } from '../../parse-input.js';
import { reencryptColumns, type ReencryptResult } from './reencrypt-columns.js';
import { withPostgresErrors } from '../map-postgres-error.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { ipAddressSchema } from '../../ip-address.js';

/** A user's grant for one integration in one organization, without its tokens. */
export interface IntegrationTokenRecord {
  readonly id: string;
  readonly organizationId: string;
  readonly userId: string;
  readonly integration: string;
  readonly hasRefreshToken: boolean;
  readonly expiresAt: Date | null;
  readonly scopes: readonly string[];
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** The provider's token type (`Bearer` …), when known. */
  readonly tokenType: string | null;
  /** When the current access token was issued (saved or refreshed). */
  readonly issuedAt: Date | null;
  /** The last read through `get`, with the reading client's IP and user agent when given. */
  readonly lastUsedAt: Date | null;
  readonly lastUsedIp: string | null;
  readonly lastUsedUserAgent: string | null;
  /** The last successful refresh on read. */
  readonly refreshedAt: Date | null;
  /** The last failed refresh on read and its error (cleared by the next success). */
  readonly refreshFailedAt: Date | null;
  readonly refreshError: string | null;
}

/** The record plus its decrypted tokens. */
export interface IntegrationTokenSecrets extends IntegrationTokenRecord {
  readonly accessToken: string;
  readonly refreshToken: string | null;
}

const shape = {
  id: z.uuid(),
  organization_id: z.uuid(),
  user_id: z.uuid(),
  integration: z.string(),
  has_refresh_token: z.boolean(),
  expires_at: z.date().nullable(),
  scopes: z.array(z.string()),
  created_at: z.date(),
  updated_at: z.date(),
  token_type: z.string().nullable(),
  issued_at: z.date().nullable(),
  last_used_at: z.date().nullable(),
  last_used_ip: z.string().nullable(),
  last_used_user_agent: z.string().nullable(),
  refreshed_at: z.date().nullable(),
  refresh_failed_at: z.date().nullable(),
  refresh_error: z.string().nullable(),
};
type RawRow = z.infer<z.ZodObject<typeof shape>>;
function toRecord(r: RawRow): IntegrationTokenRecord {
  return {
    id: r.id,
    organizationId: r.organization_id,
    userId: r.user_id,
    integration: r.integration,
    hasRefreshToken: r.has_refresh_token,
    expiresAt: r.expires_at,
    scopes: r.scopes,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    tokenType: r.token_type,
    issuedAt: r.issued_at,
    lastUsedAt: r.last_used_at,
    lastUsedIp: r.last_used_ip,
    lastUsedUserAgent: r.last_used_user_agent,
    refreshedAt: r.refreshed_at,
    refreshFailedAt: r.refresh_failed_at,
    refreshError: r.refresh_error,
  };
}
const recordRow = z.object(shape).transform(toRecord);
const listRow = z.object({ ...shape, sort_us: z.number() }).transform((r) => ({ item: toRecord(r), position: { us: r.sort_us, id: r.id } }));
const secretRow = z.object({ ...shape, access_token_encrypted: z.instanceof(Buffer), refresh_token_encrypted: z.instanceof(Buffer).nullable() });

const COLUMNS = sql.fragment`id, organization_id, user_id, integration, refresh_token_encrypted IS NOT NULL AS has_refresh_token,
  expires_at, scopes, created_at, updated_at, token_type, issued_at, last_used_at, host(last_used_ip) AS last_used_ip,
  last_used_user_agent, refreshed_at, refresh_failed_at, refresh_error`;

const integrationInput = z.string().regex(/^[a-z0-9_-]{1,64}$/, 'must be 1-64 characters of a-z, 0-9, "_", "-"');
const tokenInput = z.string().min(1).max(8192);
const saveInput = z
  .object({
    integration: integrationInput,
    accessToken: tokenInput,
    refreshToken: tokenInput.nullable().optional(),
    expiresAt: z.date().nullable().optional(),
    scopes: z.array(z.string().min(1).max(200)).max(200).default([]),
    tokenType: z.string().min(1).max(50).optional(),
    /** When the provider issued the access token (default: now). */
    issuedAt: z.date().optional(),
  })
  .strict();

// The reading client (a ClientContext: extra keys such as deviceId are ignored).
const readerInput = z
  .object({
    ip: ipAddressSchema.optional(),
    userAgent: z.string().max(1000).optional(),
  })
  .default({});
export type IntegrationTokenReader = z.input<typeof readerInput>;

const refreshResultInput = z.object({
  accessToken: tokenInput,
  refreshToken: tokenInput.nullable().optional(),
  expiresAt: z.date().nullable(),
  tokenType: z.string().min(1).max(50).optional(),
  scopes: z.array(z.string().min(1).max(200)).max(200).optional(),
});
export type SaveIntegrationTokenInput = z.input<typeof saveInput>;

function aad(id: string, column: 'access_token' | 'refresh_token'): string {
  return `integration_tokens:${id}:${column}`;
}

/**
 * Per-user, per-organization tokens of third-party integrations (GitHub,
 * Slack …); access and refresh tokens SecretBox-encrypted
 * (AAD `integration_tokens:<id>:access_token|refresh_token`).
 *
 * Pools: the user's own operations go through `withTenant` (the policy needs
 * both the organization and the user). `expiringWithin`,
 * `deleteExpiredOlderThan` and `reencryptAll` are background jobs across
 * tenants and run on the owner pool.
 */
@injectable()
@accessControlled
export class IntegrationTokenRepository {
  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(SecretBox) private readonly box: SecretBox,
    @inject(AuditRepository) private readonly audit: AuditRepository,
    @inject(INTEGRATION_TOKEN_OPTIONS) private readonly options: IntegrationTokenOptions,
  ) {}

  /**
   * Stores (or replaces) the tokens of `ctx.userId` for an integration in `ctx.organizationId`.
   * @throws ValidationError naming the invalid field (`integration`, `accessToken`, `scopes.3` …)
   */
  @declareAccess({ requires: 'integrations:manage' })
  async save(ctx: TenantContext, input: SaveIntegrationTokenInput): Promise<IntegrationTokenRecord> {
    const data = parseInput(saveInput, input);
    return withTenant(this.postgres.appPool, ctx, async (tx) => {
      // The AAD names the row id, so an existing row's id must be known before encrypting.
      const existing = await tx.maybeOne(sql.type(z.object({ id: z.uuid() }))`
        SELECT id FROM integration_tokens
        WHERE organization_id = ${ctx.organizationId} AND user_id = ${ctx.userId} AND integration = ${data.integration}
        FOR UPDATE`);
      if (existing) return this.#update(tx, existing.id, data);
      const id = randomUUID();
      const inserted = await tx.maybeOne(sql.type(recordRow)`
        INSERT INTO integration_tokens (id, organization_id, user_id, integration, access_token_encrypted, refresh_token_encrypted, expires_at, scopes,
                                        token_type, issued_at)
        VALUES (${id}, ${ctx.organizationId}, ${ctx.userId}, ${data.integration}, ${sql.binary(this.box.encrypt(data.accessToken, aad(id, 'access_token')))},
                ${data.refreshToken ? sql.binary(this.box.encrypt(data.refreshToken, aad(id, 'refresh_token'))) : null},
                ${data.expiresAt ? sql.timestamp(data.expiresAt) : null}, ${sql.array(data.scopes, 'text')},
                ${data.tokenType ?? null}, ${data.issuedAt ? sql.timestamp(data.issuedAt) : sql.fragment`now()`})
        ON CONFLICT ON CONSTRAINT integration_tokens_org_user_integration_key DO NOTHING
        RETURNING ${COLUMNS}`);
      if (inserted) return inserted;
      // A concurrent save inserted first: update its row instead.
      const raced = await tx.one(sql.type(z.object({ id: z.uuid() }))`
        SELECT id FROM integration_tokens
        WHERE organization_id = ${ctx.organizationId} AND user_id = ${ctx.userId} AND integration = ${data.integration}
        FOR UPDATE`);
      return this.#update(tx, raced.id, data);
    });
  }

  #update(tx: DatabaseTransactionConnection, id: string, data: z.output<typeof saveInput>): Promise<IntegrationTokenRecord> {
    return tx.one(sql.type(recordRow)`
      UPDATE integration_tokens SET
        access_token_encrypted = ${sql.binary(this.box.encrypt(data.accessToken, aad(id, 'access_token')))},
        refresh_token_encrypted = ${data.refreshToken ? sql.binary(this.box.encrypt(data.refreshToken, aad(id, 'refresh_token'))) : null},
        expires_at = ${data.expiresAt ? sql.timestamp(data.expiresAt) : null},
        scopes = ${sql.array(data.scopes, 'text')},
        token_type = ${data.tokenType ?? null},
        issued_at = ${data.issuedAt ? sql.timestamp(data.issuedAt) : sql.fragment`now()`},
        refresh_failed_at = NULL, refresh_error = NULL
      WHERE id = ${id}
      RETURNING ${COLUMNS}`);
  }

  /**
   * The current user's tokens for an integration, decrypted; records the read
   * (`lastUsedAt`, and the client's IP and user agent when given).
   *
   * Refresh on read: when a refresher is registered for the integration
   * (`createPlatform(config, { integrationTokens: { refreshers } })`) and the
   * token has a refresh token and expires within `refreshWithinSeconds`, the
   * refresher is called and its tokens stored (encrypted) before they are
   * returned. Single-flight across processes: the refresh runs under the row's
   * lock (`SELECT … FOR UPDATE`), and a reader that waited for it finds the
   * token fresh and does not refresh again. A failed refresh is recorded on the
   * row (`refreshFailedAt`, `refreshError`) and audited
   * (`integration_token.refresh_failed`); the current token is still returned
   * while it has not expired.
   * @throws ValidationError naming `integration` or `client.*`
   * @throws NotFoundError when none are stored
   * @throws CryptoError when a ciphertext does not authenticate
   * @throws PlatformError `INTEGRATION_REFRESH_FAILED` when the refresh failed and the token has expired
   */
  @declareAccess({ requires: 'integrations:manage' })
  async get(ctx: TenantContext, integration: string, client?: IntegrationTokenReader): Promise<IntegrationTokenSecrets> {
    const name = parseInput(integrationInput, integration, 'integration');
    const reader = parseInput(readerInput, client, 'client');
    const refresher = this.options.refreshers[name];
    let failure: string | undefined;
    const row = await withTenant(this.postgres.appPool, ctx, async (tx) => {
      const where = sql.fragment`organization_id = ${ctx.organizationId} AND user_id = ${ctx.userId} AND integration = ${name}`;
      const current = await tx.maybeOne(
        sql.type(secretRow)`SELECT ${COLUMNS}, access_token_encrypted, refresh_token_encrypted FROM integration_tokens WHERE ${where}`,
      );
      if (!current) return null;
      if (refresher && this.#due(current)) {
        // Under the row lock, read again: a concurrent reader may have refreshed while this one waited.
        const locked = await tx.one(
          sql.type(secretRow)`SELECT ${COLUMNS}, access_token_encrypted, refresh_token_encrypted FROM integration_tokens WHERE id = ${current.id} FOR UPDATE`,
        );
        if (this.#due(locked)) failure = await this.#refresh(tx, ctx, locked, refresher);
      }
      return tx.one(sql.type(secretRow)`
        UPDATE integration_tokens SET last_used_at = now(), last_used_ip = ${reader.ip ?? null}, last_used_user_agent = ${reader.userAgent ?? null}
        WHERE id = ${current.id}
        RETURNING ${COLUMNS}, access_token_encrypted, refresh_token_encrypted`);
    });
    if (!row) throw new NotFoundError('integration token', name);
    if (failure !== undefined && row.expires_at !== null && row.expires_at.getTime() <= Date.now()) {
      throw new PlatformError('INTEGRATION_REFRESH_FAILED', `Refreshing the "${name}" token failed and it has expired: ${failure}`);
    }
    return this.#decrypt(row);
  }

  #due(row: z.infer<typeof secretRow>): boolean {
    return row.refresh_token_encrypted !== null && row.expires_at !== null && row.expires_at.getTime() <= Date.now() + this.options.refreshWithinSeconds * 1000;
  }

  /** Calls the refresher and stores its answer, or records and audits the failure; @returns the failure's message, if any. */
  async #refresh(
    tx: DatabaseTransactionConnection,
    ctx: TenantContext,
    row: z.infer<typeof secretRow>,
    refresher: IntegrationTokenRefresher,
  ): Promise<string | undefined> {
    const current = this.#decrypt(row);
    const bound = this.options.refreshTimeoutMs;
    let result: z.output<typeof refreshResultInput>;
    try {
      const answer = await withTimeout(
        refresher({
          organizationId: current.organizationId,
          userId: current.userId,
          integration: current.integration,
          refreshToken: current.refreshToken ?? '',
          scopes: current.scopes,
        }),
        bound,
        () => new Error(`the refresher did not answer within ${bound} ms`),
      );
      result = parseInput(refreshResultInput, answer, 'refresher');
    } catch (error) {
      const message = (error instanceof Error ? error.message : String(error)).slice(0, 500);
      await tx.query(sql.type(z.object({}))`
        UPDATE integration_tokens SET refresh_failed_at = now(), refresh_error = ${message} WHERE id = ${row.id}`);
      await this.audit.appendWithin(tx, [
        {
          eventType: 'integration_token.refresh_failed',
          organizationId: ctx.organizationId,
          actorUserId: ctx.userId,
          riskScore: 10,
          details: { integration: current.integration, tokenId: row.id, error: message },
        },
      ]);
      return message;
    }
    const refreshToken = result.refreshToken === undefined ? current.refreshToken : result.refreshToken;
    await tx.query(sql.type(z.object({}))`
      UPDATE integration_tokens SET
        access_token_encrypted = ${sql.binary(this.box.encrypt(result.accessToken, aad(row.id, 'access_token')))},
        refresh_token_encrypted = ${refreshToken ? sql.binary(this.box.encrypt(refreshToken, aad(row.id, 'refresh_token'))) : null},
        expires_at = ${result.expiresAt ? sql.timestamp(result.expiresAt) : null},
        token_type = coalesce(${result.tokenType ?? null}, token_type),
        scopes = ${result.scopes ? sql.array(result.scopes, 'text') : sql.fragment`scopes`},
        issued_at = now(), refreshed_at = now(), refresh_failed_at = NULL, refresh_error = NULL
      WHERE id = ${row.id}`);
    return undefined;
  }

  #decrypt(row: z.infer<typeof secretRow>): IntegrationTokenSecrets {
    const { access_token_encrypted: access, refresh_token_encrypted: refresh, ...rest } = row;
    return {
      ...toRecord(rest),
      accessToken: this.box.decryptString(access, aad(row.id, 'access_token')),
      refreshToken: refresh ? this.box.decryptString(refresh, aad(row.id, 'refresh_token')) : null,
    };
  }

  /**
   * The current user's integrations in the organization, oldest first, without tokens.
   * @throws ValidationError naming `page.*`
   */
  @declareAccess({ requires: 'integrations:manage' })
  async list(ctx: TenantContext, page?: KeysetPageInput): Promise<KeysetPage<IntegrationTokenRecord>> {
    const { limit, position } = parseKeysetPage(page);
    const rows = await withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.any(sql.type(listRow)`
        SELECT ${COLUMNS}, ${sortMicros(sql.fragment`created_at`)} AS sort_us FROM integration_tokens
        WHERE organization_id = ${ctx.organizationId} AND user_id = ${ctx.userId}
          ${position ? sql.fragment`AND (created_at, id) > (${microsToTimestamp(position.us)}, ${position.id})` : sql.fragment``}
        ORDER BY created_at, id
        LIMIT ${limit + 1}`),
    );
    return toKeysetPage(rows, limit);
  }

  /**
   * Removes the current user's tokens for an integration (disconnect).
   * @returns true when a row was removed
   * @throws ValidationError naming `integration`
   */
  @declareAccess({ requires: 'integrations:manage' })
  async delete(ctx: TenantContext, integration: string): Promise<boolean> {
    const name = parseInput(integrationInput, integration, 'integration');
    const row = await withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.maybeOne(sql.type(z.object({ id: z.uuid() }))`
        DELETE FROM integration_tokens
        WHERE organization_id = ${ctx.organizationId} AND user_id = ${ctx.userId} AND integration = ${name}
        RETURNING id`),
    );
    return row !== null;
  }

  /**
   * Tokens of every tenant expiring within `minutes` (and not yet expired) that
   * have a refresh token, soonest first, decrypted for the refresh job.
   * @throws ValidationError naming `minutes` / `limit`
   */
  @declareAccess({ systemJob: 'token refresher of the application' })
  async expiringWithin(minutes = 5, limit = 100): Promise<readonly IntegrationTokenSecrets[]> {
    const input = parseInput(z.object({ minutes: z.number().int().min(1).max(1440), limit: z.number().int().min(1).max(1000) }), { minutes, limit });
    const rows = await withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, MAINTENANCE_SCOPE).any(sql.type(secretRow)`
        SELECT ${COLUMNS}, access_token_encrypted, refresh_token_encrypted FROM integration_tokens
        WHERE expires_at > now() AND expires_at <= now() + make_interval(mins => ${input.minutes})
          AND refresh_token_encrypted IS NOT NULL
        ORDER BY expires_at, id
        LIMIT ${input.limit}`),
    );
    return rows.map((r) => this.#decrypt(r));
  }

  /**
   * Deletes tokens that expired more than `days` ago (never refreshed, so dead).
   * @returns how many rows were deleted
   * @throws ValidationError naming `days`
   */
  @declareAccess({ systemJob: 'retention sweep run by the operator or a scheduler' })
  async deleteExpiredOlderThan(days = 30): Promise<number> {
    const d = parseInput(z.number().int().min(0).max(3650), days, 'days');
    return withPostgresErrors(() =>
      scopedPool(this.postgres.appPool, MAINTENANCE_SCOPE).oneFirst(sql.type(z.object({ count: z.number() }))`
        WITH deleted AS (DELETE FROM integration_tokens WHERE expires_at < now() - make_interval(days => ${d}) RETURNING 1)
        SELECT count(*)::int AS count FROM deleted`),
    );
  }

  /**
   * Key rotation: re-encrypts every token not under the active key, in batches.
   * @returns rows rewritten, and ids of rows skipped because a ciphertext does not authenticate
   * @throws ValidationError naming `batchSize`
   */
  @declareAccess({ systemJob: 'key rotation run by the operator' })
  async reencryptAll(batchSize = 500): Promise<ReencryptResult> {
    return reencryptColumns(scopedPool(this.postgres.appPool, MAINTENANCE_SCOPE), this.box, {
      table: 'integration_tokens',
      columns: [
        { column: 'access_token_encrypted', aad: (id) => aad(id, 'access_token') },
        { column: 'refresh_token_encrypted', aad: (id) => aad(id, 'refresh_token') },
      ],
      batchSize,
    });
  }
}
