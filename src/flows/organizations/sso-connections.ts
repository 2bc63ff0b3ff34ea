import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { parseInput, uuidInput } from '../../parse-input.js';
import type { ReencryptResult } from '../../postgres/repositories/reencrypt-columns.js';
import { SsoConnectionRepository } from '../../postgres/repositories/sso-connection-repository.js';
import type { SsoClientCredentials, SsoConnection, SsoRoute } from '../../postgres/repositories/sso-connection-repository.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { emailDomain } from './organization-domains.js';

export type { SsoClientCredentials, SsoConnection, SsoRoute } from '../../postgres/repositories/sso-connection-repository.js';

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

/** An address as sign-in forms take it: only its domain is used. */
const emailInput = z
  .string()
  .trim()
  .max(320)
  .regex(/^[^@\s]+@[^@\s]+$/, 'must be an email address');

/**
 * SSO connections of an organization (OIDC or SAML) and the sign-in routing
 * by verified email domain. The OIDC client secret is a SecretBox
 * envelope (in {@link SsoConnectionRepository}); it leaves only through {@link clientCredentials}.
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
  constructor(@inject(SsoConnectionRepository) private readonly connections: SsoConnectionRepository) {}

  /**
   * Adds an SSO connection to the current organization (enabled). Audited
   * without the secret or the metadata.
   * @throws ValidationError naming the field (`issuer` must be https, `metadataXml` must hold an EntityDescriptor …)
   */
  @declareAccess({ requires: 'settings:manage' })
  async createSsoConnection(ctx: TenantContext, input: SsoConnectionInput): Promise<SsoConnection> {
    return this.connections.create(ctx, parseInput(ssoConnectionInputSchema, input));
  }

  /** The current organization's connections, oldest first (no secret, no metadata). */
  @declareAccess({ requires: 'settings:read' })
  async listSsoConnections(ctx: TenantContext): Promise<readonly SsoConnection[]> {
    return this.connections.list(ctx);
  }

  /**
   * Enables or disables a connection (a disabled one routes nobody).
   * @throws NotFoundError for a connection of another (or no) organization
   */
  @declareAccess({ requires: 'settings:manage' })
  async setSsoConnectionEnabled(ctx: TenantContext, connectionId: string, enabled: boolean): Promise<SsoConnection> {
    const id = parseInput(uuidInput, connectionId, 'connectionId');
    const on = parseInput(z.boolean(), enabled, 'enabled');
    return this.connections.setEnabled(ctx, id, on);
  }

  /**
   * Deletes a connection.
   * @returns false when the organization has no such connection
   */
  @declareAccess({ requires: 'settings:manage' })
  async deleteSsoConnection(ctx: TenantContext, connectionId: string): Promise<boolean> {
    const id = parseInput(uuidInput, connectionId, 'connectionId');
    return this.connections.delete(ctx, id);
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
    return this.connections.findForDomain(domain);
  }

  /**
   * The client credentials of an enabled OIDC connection (secret decrypted), for the application's
   * authorization-code exchange at the IdP's token endpoint.
   * @throws NotFoundError for an unknown, disabled or SAML connection; CryptoError when the key ring cannot decrypt
   */
  @declareAccess({ preTenant: 'the SSO callback runs before a session exists; the connection id comes from findSsoConnectionForEmail' })
  async clientCredentials(connectionId: string): Promise<SsoClientCredentials> {
    const id = parseInput(uuidInput, connectionId, 'connectionId');
    return this.connections.clientCredentials(id);
  }

  /**
   * Key rotation: re-encrypts every OIDC client secret not under the SecretBox's active key, in batches.
   * @returns rows rewritten, and ids of rows skipped because a ciphertext does not authenticate
   * @throws ValidationError naming `batchSize`
   */
  @declareAccess({ systemJob: 'key rotation run by the operator' })
  async reencryptAll(batchSize = 500): Promise<ReencryptResult> {
    return this.connections.reencryptAll(batchSize);
  }
}
