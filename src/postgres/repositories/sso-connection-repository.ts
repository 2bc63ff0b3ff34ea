import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { NotFoundError } from '../../errors.js';
import { SecretBox } from '../../security/secret-box.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { withPostgresErrors } from '../map-postgres-error.js';
import { PostgresConnection } from '../postgres-connection.js';
import { MAINTENANCE_SCOPE, scopedPool } from '../with-scope.js';
import { withTenant } from '../with-tenant.js';
import { AuditRepository } from './audit-repository.js';
import { reencryptColumns, type ReencryptResult } from './reencrypt-columns.js';

/** An SSO connection as its organization and the sign-in routing see it: never the client secret. */
export interface SsoConnection {
  readonly id: string;
  readonly organizationId: string;
  readonly protocol: 'oidc' | 'saml';
  readonly name: string;
  readonly enabled: boolean;
  readonly oidc: { readonly issuer: string; readonly clientId: string; readonly hasClientSecret: boolean } | null;
  readonly saml: { readonly entityId: string; readonly acsUrl: string } | null;
  readonly createdAt: Date;
}

/** Where `findSsoConnectionForEmail` sends a sign-in: public routing fields only. */
export interface SsoRoute {
  readonly connectionId: string;
  readonly organizationId: string;
  readonly protocol: 'oidc' | 'saml';
  readonly name: string;
  readonly oidcIssuer: string | null;
  readonly oidcClientId: string | null;
  readonly samlEntityId: string | null;
  readonly samlAcsUrl: string | null;
}

/** The OIDC client credentials of a connection, for the application's code exchange. Holds the secret: never log it. */
export interface SsoClientCredentials {
  readonly organizationId: string;
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string | null;
}

/** A validated new connection (the SsoConnections flow parses it with `ssoConnectionInputSchema`). */
export type NewSsoConnection =
  | { readonly protocol: 'oidc'; readonly name: string; readonly issuer: string; readonly clientId: string; readonly clientSecret?: string | undefined }
  | { readonly protocol: 'saml'; readonly name: string; readonly metadataXml: string; readonly entityId: string; readonly acsUrl: string };

const connectionRow = z
  .object({
    id: z.uuid(),
    organization_id: z.uuid(),
    protocol: z.enum(['oidc', 'saml']),
    name: z.string(),
    enabled: z.boolean(),
    oidc_issuer: z.string().nullable(),
    oidc_client_id: z.string().nullable(),
    has_secret: z.boolean(),
    saml_entity_id: z.string().nullable(),
    saml_acs_url: z.string().nullable(),
    created_at: z.date(),
  })
  .transform((r): SsoConnection => ({
    id: r.id,
    organizationId: r.organization_id,
    protocol: r.protocol,
    name: r.name,
    enabled: r.enabled,
    oidc: r.oidc_issuer !== null && r.oidc_client_id !== null ? { issuer: r.oidc_issuer, clientId: r.oidc_client_id, hasClientSecret: r.has_secret } : null,
    saml: r.saml_entity_id !== null && r.saml_acs_url !== null ? { entityId: r.saml_entity_id, acsUrl: r.saml_acs_url } : null,
    createdAt: r.created_at,
  }));
const COLUMNS = sql.fragment`id, organization_id, protocol, name, enabled, oidc_issuer, oidc_client_id, oidc_client_secret IS NOT NULL AS has_secret,
  saml_entity_id, saml_acs_url, created_at`;
const routeRow = z
  .object({
    id: z.uuid(),
    organization_id: z.uuid(),
    protocol: z.enum(['oidc', 'saml']),
    name: z.string(),
    oidc_issuer: z.string().nullable(),
    oidc_client_id: z.string().nullable(),
    saml_entity_id: z.string().nullable(),
    saml_acs_url: z.string().nullable(),
    created_at: z.date(),
  })
  .transform((r): SsoRoute => ({
    connectionId: r.id,
    organizationId: r.organization_id,
    protocol: r.protocol,
    name: r.name,
    oidcIssuer: r.oidc_issuer,
    oidcClientId: r.oidc_client_id,
    samlEntityId: r.saml_entity_id,
    samlAcsUrl: r.saml_acs_url,
  }));
const credentialsRow = z.object({
  organization_id: z.uuid(),
  oidc_issuer: z.string(),
  oidc_client_id: z.string(),
  oidc_client_secret: z.instanceof(Buffer).nullable(),
});
/** The SecretBox AAD of a connection's OIDC client secret: binds the envelope to its row and column. */
const aad = (id: string): string => `sso_connections:${id}:oidc_client_secret`;

/**
 * The `sso_connections` statements of the SsoConnections flow, each change
 * with its audit event (never the secret or the metadata) in the same
 * transaction. The OIDC client secret is a {@link SecretBox} envelope bound to
 * its row (AAD `sso_connections:<id>:oidc_client_secret`); it leaves only
 * through {@link clientCredentials}.
 */
@injectable()
@accessControlled
export class SsoConnectionRepository {
  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(AuditRepository) private readonly auditLog: AuditRepository,
    @inject(SecretBox) private readonly box: SecretBox,
  ) {}

  /** Adds a connection (enabled) to the current organization; audited as `organization.sso.created`. */
  @declareAccess({ requires: 'settings:manage' })
  async create(ctx: TenantContext, d: NewSsoConnection): Promise<SsoConnection> {
    const id = randomUUID();
    return withTenant(this.postgres.appPool, ctx, async (tx) => {
      const row =
        d.protocol === 'oidc'
          ? await tx.one(sql.type(connectionRow)`
              INSERT INTO sso_connections (id, organization_id, protocol, name, oidc_issuer, oidc_client_id, oidc_client_secret)
              VALUES (${id}, ${ctx.organizationId}, 'oidc', ${d.name}, ${d.issuer}, ${d.clientId},
                      ${d.clientSecret === undefined ? null : sql.binary(this.box.encrypt(d.clientSecret, aad(id)))})
              RETURNING ${COLUMNS}`)
          : await tx.one(sql.type(connectionRow)`
              INSERT INTO sso_connections (id, organization_id, protocol, name, saml_entity_id, saml_metadata_xml, saml_acs_url)
              VALUES (${id}, ${ctx.organizationId}, 'saml', ${d.name}, ${d.entityId}, ${d.metadataXml}, ${d.acsUrl})
              RETURNING ${COLUMNS}`);
      await this.auditLog.appendWithin(tx, [
        {
          eventType: 'organization.sso.created',
          organizationId: ctx.organizationId,
          actorUserId: ctx.userId,
          riskScore: 30,
          details: { connectionId: id, protocol: d.protocol },
        },
      ]);
      return row;
    });
  }

  /** The current organization's connections, oldest first (no secret, no metadata). */
  @declareAccess({ requires: 'settings:read' })
  async list(ctx: TenantContext): Promise<readonly SsoConnection[]> {
    return withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.any(sql.type(connectionRow)`SELECT ${COLUMNS} FROM sso_connections WHERE organization_id = ${ctx.organizationId} ORDER BY created_at, id`),
    );
  }

  /**
   * Enables or disables a connection; audited.
   * @throws NotFoundError for a connection of another (or no) organization
   */
  @declareAccess({ requires: 'settings:manage' })
  async setEnabled(ctx: TenantContext, connectionId: string, enabled: boolean): Promise<SsoConnection> {
    return withTenant(this.postgres.appPool, ctx, async (tx) => {
      const row = await tx.maybeOne(sql.type(connectionRow)`
        UPDATE sso_connections SET enabled = ${enabled}, updated_at = now() WHERE id = ${connectionId} AND organization_id = ${ctx.organizationId} RETURNING ${COLUMNS}`);
      if (!row) throw new NotFoundError('SSO connection', connectionId);
      await this.auditLog.appendWithin(tx, [
        {
          eventType: enabled ? 'organization.sso.enabled' : 'organization.sso.disabled',
          organizationId: ctx.organizationId,
          actorUserId: ctx.userId,
          riskScore: 20,
          details: { connectionId },
        },
      ]);
      return row;
    });
  }

  /**
   * Deletes a connection; audited.
   * @returns false when the organization has no such connection
   */
  @declareAccess({ requires: 'settings:manage' })
  async delete(ctx: TenantContext, connectionId: string): Promise<boolean> {
    return withTenant(this.postgres.appPool, ctx, async (tx) => {
      const removed = await tx.maybeOneFirst(sql.type(z.object({ id: z.uuid() }))`
        DELETE FROM sso_connections WHERE id = ${connectionId} AND organization_id = ${ctx.organizationId} RETURNING id`);
      if (removed === null) return false;
      await this.auditLog.appendWithin(tx, [
        { eventType: 'organization.sso.deleted', organizationId: ctx.organizationId, actorUserId: ctx.userId, riskScore: 30, details: { connectionId } },
      ]);
      return true;
    });
  }

  /** The oldest enabled connection of the organization that verified `domain`, or null (`platform_auth.sso_connections_for_domain`). */
  @declareAccess({ preTenant: 'sign-in routing: the email is all the caller has presented' })
  async findForDomain(domain: string): Promise<SsoRoute | null> {
    return withPostgresErrors(() =>
      this.postgres.appPool.maybeOne(sql.type(routeRow)`
        SELECT id, organization_id, protocol, name, oidc_issuer, oidc_client_id, saml_entity_id, saml_acs_url, created_at
        FROM platform_auth.sso_connections_for_domain(${domain}) LIMIT 1`),
    );
  }

  /**
   * The client credentials of an enabled OIDC connection, secret decrypted.
   * @throws NotFoundError for an unknown, disabled or SAML connection; CryptoError when the key ring cannot decrypt
   */
  @declareAccess({ preTenant: 'the SSO callback runs before a session exists; the connection id comes from findSsoConnectionForEmail' })
  async clientCredentials(connectionId: string): Promise<SsoClientCredentials> {
    const row = await withPostgresErrors(() =>
      this.postgres.appPool.maybeOne(sql.type(credentialsRow)`
        SELECT organization_id, oidc_issuer, oidc_client_id, oidc_client_secret FROM platform_auth.sso_client_credentials(${connectionId})`),
    );
    if (!row) throw new NotFoundError('SSO connection', connectionId);
    return {
      organizationId: row.organization_id,
      issuer: row.oidc_issuer,
      clientId: row.oidc_client_id,
      clientSecret: row.oidc_client_secret === null ? null : this.box.decryptString(row.oidc_client_secret, aad(connectionId)),
    };
  }

  /**
   * Key rotation: re-encrypts every OIDC client secret not under the SecretBox's active key, in batches.
   * @returns rows rewritten, and ids of rows skipped because a ciphertext does not authenticate
   * @throws ValidationError naming `batchSize`
   */
  @declareAccess({ systemJob: 'key rotation run by the operator' })
  async reencryptAll(batchSize = 500): Promise<ReencryptResult> {
    return reencryptColumns(scopedPool(this.postgres.appPool, MAINTENANCE_SCOPE), this.box, {
      table: 'sso_connections',
      columns: [{ column: 'oidc_client_secret', aad }],
      batchSize,
    });
  }
}
