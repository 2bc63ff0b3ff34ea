import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { NotFoundError } from '../../errors.js';
import { parseInput } from '../../parse-input.js';
import { PostgresConnection } from '../../postgres/postgres-connection.js';
import { AuditRepository } from '../../postgres/repositories/audit-repository.js';
import { reencryptColumns, type ReencryptResult } from '../../postgres/repositories/reencrypt-columns.js';
import { withPostgresErrors } from '../../postgres/map-postgres-error.js';
import { MAINTENANCE_SCOPE, scopedPool } from '../../postgres/with-scope.js';
import { withTenant } from '../../postgres/with-tenant.js';
import { SecretBox } from '../../security/secret-box.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { emailDomain } from './organization-domains.js';

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

const httpsUrl = z.url({ protocol: /^https$/ }).max(2_000);
export const ssoConnectionInputSchema = z.discriminatedUnion('protocol', [
  z
    .object({
      protocol: z.literal('oidc'),
      name: z.string().trim().min(1).max(100),
      /** OpenID Connect Discovery 1.0 §4: the issuer is an https URL. */
      issuer: httpsUrl,
      clientId: z.string().min(1).max(500),
      /** Absent for public clients (PKCE only). */
      clientSecret: z.string().min(1).max(2_000).optional(),
    })
    .strict(),
  z
    .object({
      protocol: z.literal('saml'),
      name: z.string().trim().min(1).max(100),
      /** The IdP's `EntityDescriptor` (SAML 2.0 Metadata §2.3.2); at most 1 MB. */
      metadataXml: z
        .string()
        .min(1)
        .max(1_000_000)
        .refine((x) => /<(\w+:)?EntityDescriptor[\s>]/.test(x), 'must be SAML metadata with an EntityDescriptor'),
      entityId: z.string().min(1).max(1_000),
      /** This service provider's Assertion Consumer Service URL. */
      acsUrl: httpsUrl,
    })
    .strict(),
]);
export type SsoConnectionInput = z.input<typeof ssoConnectionInputSchema>;

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
/** An address as sign-in forms take it: only its domain is used. */
const emailInput = z
  .string()
  .trim()
  .max(320)
  .regex(/^[^@\s]+@[^@\s]+$/, 'must be an email address');

const aad = (id: string): string => `sso_connections:${id}:oidc_client_secret`;

/**
 * SSO connections of an organization (OIDC or SAML) and the sign-in routing
 * by verified email domain. The OIDC client secret is a {@link SecretBox}
 * envelope; it leaves only through {@link clientCredentials}.
 *
 * Enumeration: {@link findSsoConnectionForEmail} answers per DOMAIN, never per
 * address — it reads no user. That is what peers disclose: GoTrue's
 * `POST /sso` with a `domain` answers 404 "No SSO provider assigned for this
 * domain" (supabase/auth internal/api/samlacs, ssoProviderForDomain), Keycloak's
 * identity-first login redirects by the email's organization domain, and WorkOS
 * routes by `domain` (workos.com/docs/sso). Whether example.com uses SSO is
 * visible on its login page anyway; whether alice@example.com has an account is not revealed.
 */
@injectable()
@accessControlled
export class SsoConnections {
  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(AuditRepository) private readonly auditLog: AuditRepository,
    @inject(SecretBox) private readonly box: SecretBox,
  ) {}

  /**
   * Adds an SSO connection to the current organization (enabled). Audited
   * without the secret or the metadata.
   * @throws ValidationError naming the field (`issuer` must be https, `metadataXml` must hold an EntityDescriptor …)
   */
  @declareAccess({ requires: 'settings:manage' })
  async createSsoConnection(ctx: TenantContext, input: SsoConnectionInput): Promise<SsoConnection> {
    const d = parseInput(ssoConnectionInputSchema, input);
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
  async listSsoConnections(ctx: TenantContext): Promise<readonly SsoConnection[]> {
    return withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.any(sql.type(connectionRow)`SELECT ${COLUMNS} FROM sso_connections WHERE organization_id = ${ctx.organizationId} ORDER BY created_at, id`),
    );
  }

  /**
   * Enables or disables a connection (a disabled one routes nobody).
   * @throws NotFoundError for a connection of another (or no) organization
   */
  @declareAccess({ requires: 'settings:manage' })
  async setSsoConnectionEnabled(ctx: TenantContext, connectionId: string, enabled: boolean): Promise<SsoConnection> {
    const id = parseInput(z.uuid(), connectionId, 'connectionId');
    const on = parseInput(z.boolean(), enabled, 'enabled');
    return withTenant(this.postgres.appPool, ctx, async (tx) => {
      const row = await tx.maybeOne(sql.type(connectionRow)`
        UPDATE sso_connections SET enabled = ${on}, updated_at = now() WHERE id = ${id} AND organization_id = ${ctx.organizationId} RETURNING ${COLUMNS}`);
      if (!row) throw new NotFoundError('SSO connection', id);
      await this.auditLog.appendWithin(tx, [
        {
          eventType: on ? 'organization.sso.enabled' : 'organization.sso.disabled',
          organizationId: ctx.organizationId,
          actorUserId: ctx.userId,
          riskScore: 20,
          details: { connectionId: id },
        },
      ]);
      return row;
    });
  }

  /**
   * Deletes a connection.
   * @returns false when the organization has no such connection
   */
  @declareAccess({ requires: 'settings:manage' })
  async deleteSsoConnection(ctx: TenantContext, connectionId: string): Promise<boolean> {
    const id = parseInput(z.uuid(), connectionId, 'connectionId');
    return withTenant(this.postgres.appPool, ctx, async (tx) => {
      const removed = await tx.maybeOneFirst(sql.type(z.object({ id: z.uuid() }))`
        DELETE FROM sso_connections WHERE id = ${id} AND organization_id = ${ctx.organizationId} RETURNING id`);
      if (removed === null) return false;
      await this.auditLog.appendWithin(tx, [
        { eventType: 'organization.sso.deleted', organizationId: ctx.organizationId, actorUserId: ctx.userId, riskScore: 30, details: { connectionId: id } },
      ]);
      return true;
    });
  }

  /**
   * The SSO connection a sign-in with this email should use: the oldest
   * enabled connection of the organization that VERIFIED the email's domain,
   * or null. Per domain only: the same answer for every address at a domain,
   * whether or not an account exists (see the class comment).
   * @throws ValidationError naming `email`
   */
  @declareAccess({ preTenant: 'sign-in routing: the email is all the caller has presented' })
  async findSsoConnectionForEmail(email: string): Promise<SsoRoute | null> {
    const domain = emailDomain(parseInput(emailInput, email, 'email'));
    const route = await withPostgresErrors(() =>
      this.postgres.appPool.maybeOne(sql.type(routeRow)`
        SELECT id, organization_id, protocol, name, oidc_issuer, oidc_client_id, saml_entity_id, saml_acs_url, created_at
        FROM platform_auth.sso_connections_for_domain(${domain}) LIMIT 1`),
    );
    return route;
  }

  /**
   * The client credentials of an enabled OIDC connection (secret decrypted), for the application's
   * authorization-code exchange at the IdP's token endpoint.
   * @throws NotFoundError for an unknown, disabled or SAML connection; CryptoError when the key ring cannot decrypt
   */
  @declareAccess({ preTenant: 'the SSO callback runs before a session exists; the connection id comes from findSsoConnectionForEmail' })
  async clientCredentials(connectionId: string): Promise<SsoClientCredentials> {
    const id = parseInput(z.uuid(), connectionId, 'connectionId');
    const row = await withPostgresErrors(() =>
      this.postgres.appPool.maybeOne(sql.type(credentialsRow)`
        SELECT organization_id, oidc_issuer, oidc_client_id, oidc_client_secret FROM platform_auth.sso_client_credentials(${id})`),
    );
    if (!row) throw new NotFoundError('SSO connection', id);
    return {
      organizationId: row.organization_id,
      issuer: row.oidc_issuer,
      clientId: row.oidc_client_id,
      clientSecret: row.oidc_client_secret === null ? null : this.box.decryptString(row.oidc_client_secret, aad(id)),
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
