import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { AccountStateError, ConflictError, ValidationError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { parseInput } from '../../parse-input.js';
import {
  IdentityRepository,
  providerDiscriminatorInput,
  providerUsernameInput,
  type IdentityProvider,
  type LinkIdentityInput,
  type UpdateProviderTokensInput,
} from '../../postgres/repositories/identity-repository.js';
import { AuditRepository } from '../../postgres/repositories/audit-repository.js';
import { OrganizationRepository } from '../../postgres/repositories/organization-repository.js';
import { UserRepository, type UserRecord } from '../../postgres/repositories/user-repository.js';
import { LOGGER } from '../../tokens.js';
import type { LoginResult } from './password-sign-in.js';
import { clientAuditFields, clientContextSchema, type ClientContext } from './client-context.js';
import { MfaService, secondFactorDue } from './mfa-service.js';
import { SessionIssuer } from './session-issuer.js';
import { slugFor } from './account-creation.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

/** Providers this flow signs in with (the identities table also knows `github`, used for integrations, not sign-in). */
export const OAUTH_SIGN_IN_PROVIDERS = ['google', 'microsoft', 'facebook', 'apple', 'discord'] as const satisfies readonly IdentityProvider[];
export type OAuthSignInProvider = (typeof OAUTH_SIGN_IN_PROVIDERS)[number];

const profileInput = z
  .object({
    provider: z.enum(OAUTH_SIGN_IN_PROVIDERS),
    /** The provider's stable subject id (`sub`), never the email: emails change and are reassigned. */
    providerUserId: z.string().min(1).max(255),
    email: z.email().max(320).optional(),
    /** Only true when the provider asserted it (`email_verified` claim); it decides linking. */
    emailVerified: z.boolean().default(false),
    displayName: z.string().trim().min(1).max(200).optional(),
    /** The provider's handle, kept on the identity (e.g. Discord's `username`, GitHub's `login`). */
    providerUsername: providerUsernameInput.optional(),
    /** Discord's `discriminator` (`"0"` for migrated accounts). */
    providerDiscriminator: providerDiscriminatorInput.optional(),
    accessToken: z.string().min(1).max(8192).optional(),
    refreshToken: z.string().min(1).max(8192).optional(),
    tokenExpiresAt: z.date().optional(),
  })
  .strict();
/** What the application extracted from the provider's verified ID token / userinfo. */
export type OAuthProfile = z.input<typeof profileInput>;

/** The identity's fields the profile carries (tokens, handle), without the undefined ones. */
function identityFields(p: z.output<typeof profileInput>): UpdateProviderTokensInput {
  const fields = {
    accessToken: p.accessToken,
    refreshToken: p.refreshToken,
    tokenExpiresAt: p.tokenExpiresAt,
    providerUsername: p.providerUsername,
    providerDiscriminator: p.providerDiscriminator,
  };
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

/** How the user was found: an existing identity, an identity linked now to an existing account, or a new account. */
export type OAuthSignInOutcome = 'signed_in' | 'linked' | 'created';

/**
 * The same union as password `login` (`signed_in` with the session, or
 * `mfa_required` / `mfa_enrollment_required` with a challenge and NO session),
 * plus how the user was found.
 */
export type OAuthSignInResult = LoginResult & { readonly outcome: OAuthSignInOutcome };

/**
 * OAuth / OpenID sign-in. Call it after the application has verified the
 * provider's response (state, PKCE, ID-token signature). Rules:
 *
 * 1. a known identity (provider + subject) signs its user in;
 * 2. otherwise, an existing account with the same email is linked **only**
 *    when the provider asserts the email is verified **and** the account's
 *    own email is verified — else a `ConflictError`, because linking on an
 *    unproven email hands the account to whoever controls the provider
 *    account (takeover), and linking to an unverified local account would let
 *    someone who pre-registered the victim's email keep a password on it;
 * 3. otherwise a new account (active when the email is verified) with a
 *    personal organization is created and the identity linked, all in one
 *    transaction (nothing half-created survives a failure or a crash). Provider
 *    tokens are encrypted by the identity repository (SecretBox, AAD per row);
 * 4. then the same second-factor decision as password sign-in: TOTP enabled →
 *    `mfa_required`, organization requires MFA → `mfa_enrollment_required`,
 *    both with a challenge and no session (finish with `MfaSignIn.completeMfaLogin`
 *    / `completeMfaEnrollment`). The lockout counter is reset only with a session.
 */
@injectable()
@accessControlled
export class OAuthSignIn {
  constructor(
    @inject(IdentityRepository) private readonly identities: IdentityRepository,
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(OrganizationRepository) private readonly organizations: OrganizationRepository,
    @inject(SessionIssuer) private readonly issuer: SessionIssuer,
    @inject(MfaService) private readonly mfa: MfaService,
    @inject(AuditRepository) private readonly audit: AuditRepository,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * @throws ValidationError naming the field (`provider`, `providerUserId`, `email` — required to create an account …)
   * @throws ConflictError when the email belongs to an account that may not be linked (see the rules)
   * @throws AccountStateError when the account is suspended, locked or deleted
   * @throws TenantAccessError when the user belongs to no organization, or the IP is outside its allow-list
   * @returns `signed_in` with the session; or, when a second factor is due, `mfa_required` / `mfa_enrollment_required` with a challenge and NO session
   */
  @declareAccess({ preTenant: 'OAuth sign-in of OAuthSignIn' })
  async signIn(profile: OAuthProfile, context: ClientContext = {}): Promise<OAuthSignInResult> {
    const p = parseInput(profileInput, profile);
    const client = parseInput(clientContextSchema, context, 'context');
    const { user, outcome } = await this.#resolveUser(p);
    if (user.status === 'suspended') throw new AccountStateError('suspended');
    if (user.status === 'locked') throw new AccountStateError('locked');
    if (user.status === 'deleted' || user.deletedAt !== null) throw new AccountStateError('deleted');
    const update = identityFields(p);
    if (outcome === 'signed_in' && Object.keys(update).length > 0) await this.identities.updateTokens(user.id, p.provider, update);
    const [target, mfaEnabled] = await Promise.all([this.issuer.resolveTarget(user, client), this.mfa.isEnabled(user.id)]);
    const due = secondFactorDue(mfaEnabled, target.settings);
    if (due !== undefined) {
      // The provider is the first factor only; like a password, it neither resets the lockout nor issues a session.
      const challenge = await this.mfa.startSignInChallenge(user, target.membership.organizationId, due, client, {
        via: 'oauth',
        provider: p.provider,
        outcome,
      });
      return { ...challenge, outcome };
    }
    await this.users.recordSuccessfulLogin(user.id, client.ip);
    const result = await this.issuer.issue(user, client, undefined, {
      target,
      // In the session's transaction: the event exists exactly when the session does.
      audit: (sessionId, organizationId) => [
        {
          eventType: outcome === 'signed_in' ? 'auth.oauth.signed_in' : outcome === 'linked' ? 'auth.oauth.linked' : 'auth.oauth.signup',
          organizationId,
          actorUserId: user.id,
          ...clientAuditFields(client),
          // Linking a new login method to an existing account deserves a look.
          riskScore: outcome === 'linked' ? 40 : 0,
          details: { provider: p.provider, sessionId },
        },
      ],
    });
    return { status: 'signed_in', ...result, outcome };
  }

  async #resolveUser(p: z.output<typeof profileInput>): Promise<{ user: UserRecord; outcome: OAuthSignInOutcome }> {
    const identity = await this.identities.findByProvider(p.provider, p.providerUserId);
    if (identity) {
      const user = await this.users.getById(identity.userId);
      if (user) return { user, outcome: 'signed_in' };
    }
    if (p.email === undefined) {
      throw new ValidationError([{ path: 'email', message: 'is required to create or link an account (the provider returned none)' }]);
    }
    const existing = await this.users.findCredentialsByEmail(p.email);
    if (existing) {
      if (!p.emailVerified)
        throw new ConflictError('An account with this email exists; the provider did not verify the email, so it cannot be linked', {
          constraint: 'users_email_key',
        });
      if (existing.user.emailVerifiedAt === null) {
        throw new ConflictError('An account with this email exists but its email is unverified; verify it, then link the provider', {
          constraint: 'users_email_key',
        });
      }
      await this.#link(existing.user.id, p);
      return { user: existing.user, outcome: 'linked' };
    }
    return this.#create(p, p.email);
  }

  async #create(p: z.output<typeof profileInput>, email: string): Promise<{ user: UserRecord; outcome: 'created' | 'signed_in' }> {
    const name = p.displayName ?? email.split('@')[0] ?? 'Personal';
    try {
      // One transaction: the user, its verified status, the identity and the personal organization commit together,
      // so a failure or a crash leaves no account without its identity or organization (and no email taken by one).
      const [, owner] = await this.users.createWith(
        { email, status: 'pending_verification', ...(p.displayName === undefined ? {} : { displayName: p.displayName }) },
        async (tx, created) => {
          // setStatus stamps email_verified_at, which the insert does not.
          const user = p.emailVerified ? await this.users.setStatusWithin(tx, created.id, 'active') : created;
          await this.identities.linkWithin(tx, user.id, this.#linkInput(p));
          const organization = await this.organizations.createWithin(tx, {
            name: `${name}'s workspace`.slice(0, 200),
            slug: slugFor(name),
            ownerUserId: user.id,
          });
          // As for a password sign-up (AccountCreation): the account's creation event exists exactly when the account does
          // (`auth.oauth.signup`, written later with the first session, does not when the process dies before it).
          await this.audit.appendWithin(tx, [
            { eventType: 'auth.signup', organizationId: organization.id, actorUserId: user.id, details: { method: 'oauth', provider: p.provider } },
          ]);
          return user;
        },
      );
      return { user: owner, outcome: 'created' };
    } catch (error) {
      // A concurrent first sign-in of the same identity committed its account first (this insert waited for it on
      // the email, then found it taken): that whole account — identity and organization included — is the one wanted.
      if (error instanceof ConflictError) {
        const identity = await this.identities.findByProvider(p.provider, p.providerUserId);
        const user = identity ? await this.users.getById(identity.userId) : undefined;
        if (user) return { user, outcome: 'signed_in' };
      }
      throw error;
    }
  }

  #linkInput(p: z.output<typeof profileInput>): LinkIdentityInput {
    return { provider: p.provider, providerUserId: p.providerUserId, ...(p.email === undefined ? {} : { email: p.email }), ...identityFields(p) };
  }

  async #link(userId: string, p: z.output<typeof profileInput>): Promise<void> {
    try {
      await this.identities.link(userId, this.#linkInput(p));
    } catch (error) {
      // A concurrent sign-in of the same identity linked it to this same existing account first: that is the link wanted here.
      if (error instanceof ConflictError) {
        const identity = await this.identities.findByProvider(p.provider, p.providerUserId);
        if (identity?.userId === userId) return;
      }
      throw error;
    }
  }
}
