import { randomUUID } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import { AccountStateError, TenantAccessError } from '../errors.js';
import type { Logger } from '../logger.js';
import { AccountRepository, type AccountMembership } from '../postgres/repositories/account-repository.js';
import { RefreshTokenRepository } from '../postgres/repositories/refresh-token-repository.js';
import { SessionRepository } from '../postgres/repositories/session-repository.js';
import { UserRepository, type UserRecord } from '../postgres/repositories/user-repository.js';
import { SessionCache } from '../redis/session-cache.js';
import { createTenantContext, type TenantContext } from '../tenancy/tenant-context.js';
import { LOGGER } from '../tokens.js';
import type { ParsedClientContext } from './client-context.js';
import { SessionRevoker } from './session-revoker.js';

/** An organization the signed-in user belongs to. */
export interface SessionOrganization {
  readonly id: string;
  readonly name: string;
  readonly slug: string;
  readonly role: AccountMembership['role'];
}

/** What a successful sign-in (password or OAuth) returns. Contains the refresh token: hand it to the client, never log it. */
export interface SignInResult {
  readonly sessionId: string;
  /** Identifier of the access token (put it in the JWT the application signs as `jti`); not a secret. */
  readonly accessTokenJti: string;
  /** Opaque refresh token, shown once; only its SHA-256 is stored. */
  readonly refreshToken: string;
  /** When the session (and its access token) expires. */
  readonly expiresAt: Date;
  readonly user: UserRecord;
  /** The organization this session acts in. */
  readonly organization: SessionOrganization;
  /** Every organization the user belongs to (to offer a switch). */
  readonly organizations: readonly SessionOrganization[];
  readonly context: TenantContext;
}

/** Statuses that may hold a session at all (pending_verification is the login policy's call, made before). */
const LIVE_STATUSES: ReadonlySet<UserRecord['status']> = new Set(['active', 'pending_verification']);

function toOrganization(m: AccountMembership): SessionOrganization {
  return { id: m.organizationId, name: m.organizationName, slug: m.organizationSlug, role: m.role };
}

/**
 * Creates a session after the caller authenticated the user (password login,
 * OAuth): Postgres row (source of truth) → refresh token (hash stored) →
 * Redis record (write-through). Shared by {@link AuthService} and {@link OAuthSignIn}.
 */
@injectable()
export class SessionIssuer {
  constructor(
    @inject(SessionRepository) private readonly sessions: SessionRepository,
    @inject(RefreshTokenRepository) private readonly refreshTokens: RefreshTokenRepository,
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(AccountRepository) private readonly accounts: AccountRepository,
    @inject(SessionCache) private readonly cache: SessionCache,
    @inject(SessionRevoker) private readonly revoker: SessionRevoker,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * @param organizationId the organization to act in; default the user's oldest membership
   * @throws TenantAccessError when the user belongs to no (such) organization
   * @throws AccountStateError when the account was suspended/locked/deleted while the session was being created
   */
  async issue(user: UserRecord, client: ParsedClientContext, organizationId?: string): Promise<SignInResult> {
    const memberships = await this.accounts.listMemberships(user.id);
    const membership = organizationId === undefined ? memberships[0] : memberships.find((m) => m.organizationId === organizationId);
    if (!membership) {
      throw new TenantAccessError(organizationId === undefined ? 'The user belongs to no organization' : 'The user is not a member of that organization', {
        permission: 'organization:read',
      });
    }
    const context = createTenantContext({ organizationId: membership.organizationId, userId: user.id, role: membership.role, scopes: [] });

    // Read before the Postgres write: a revoke-all landing in between moves the
    // epoch, and the cache then refuses this record as stale (validate repopulates).
    const epoch = await this.cache.readEpoch(user.id).catch((error: unknown) => {
      this.logger.warn('session cache unavailable at sign-in; the first validation will load from Postgres', { error });
      return undefined;
    });
    const session = await this.sessions.create(context, {
      accessTokenJti: randomUUID(),
      ...(client.deviceId === undefined ? {} : { device: client.deviceId }),
      ...(client.ip === undefined ? {} : { ip: client.ip }),
      ...(client.userAgent === undefined ? {} : { userAgent: client.userAgent }),
    });
    const issued = await this.refreshTokens.issue(session.id);

    // A suspension that read no session yet (we had not created it) would miss
    // this one: re-read the status now that the row is committed. Either we see
    // the new status, or the suspension's revoke-all runs after our commit and
    // revokes the row itself.
    const current = await this.users.getById(user.id);
    if (!current || !LIVE_STATUSES.has(current.status)) {
      await this.revoker.revokeSession(session.id, 'account_state_changed');
      throw new AccountStateError(current?.status === 'suspended' ? 'suspended' : current?.status === 'locked' ? 'locked' : 'deleted');
    }

    if (epoch !== undefined) {
      await this.cache
        .put(
          {
            sessionId: session.id,
            userId: user.id,
            organizationId: membership.organizationId,
            expiresAt: session.expiresAt.getTime(),
            revocationEpoch: epoch,
            roles: [membership.role],
          },
          { jti: session.accessTokenJti, expiresAt: session.expiresAt.getTime() },
        )
        .catch((error: unknown) => this.logger.warn('session cache write-through failed; validation will load from Postgres', { error }));
    }

    return {
      sessionId: session.id,
      accessTokenJti: session.accessTokenJti,
      refreshToken: issued.token,
      expiresAt: session.expiresAt,
      user: current,
      organization: toOrganization(membership),
      organizations: memberships.map(toOrganization),
      context,
    };
  }
}
