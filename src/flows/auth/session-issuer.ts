import { randomUUID } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import type { Config } from '../../config.js';
import { AccountStateError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { AccountMembership } from '../../postgres/repositories/account-repository.js';
import type { AuditEventInput } from '../../postgres/repositories/audit-repository.js';
import { SignInSessionRepository } from '../../postgres/repositories/sign-in-session-repository.js';
import type { UserRecord } from '../../postgres/repositories/user-repository.js';
import { SessionCache } from '../../redis/repositories/session-cache.js';
import { SessionRevoker } from './session-revoker.js';
import { createTenantContext, type TenantContext } from '../../tenancy/tenant-context.js';
import { CONFIG, LOGGER } from '../../tokens.js';
import type { ParsedClientContext } from './client-context.js';
import { activeUntil } from '../organizations/organization-security.js';
import { SignInTargetResolver, type SignInTarget } from './sign-in-target-resolver.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

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
  /**
   * When the session (and its access token) expires — provided it is used (validated or refreshed) before
   * `confirmBy`; a session never used by then ends at `confirmBy` (docs/sessions.md, "Confirmation on first use").
   */
  readonly expiresAt: Date;
  /** The end of the confirmation window: SESSION_CONFIRM_WINDOW_SECONDS after the sign-in. */
  readonly confirmBy: Date;
  readonly user: UserRecord;
  /** The organization this session acts in. */
  readonly organization: SessionOrganization;
  /** Every organization the user belongs to (to offer a switch). */
  readonly organizations: readonly SessionOrganization[];
  readonly context: TenantContext;
}

export interface IssueOptions {
  /** A target resolved (and IP-checked) earlier in the same sign-in, with the same client; resolved here when omitted. */
  readonly target?: SignInTarget;
  /** The sign-in passed a second factor (kept on the cached record). */
  readonly mfaVerified?: boolean;
  /** For the audit event of an IP refusal. */
  readonly via?: 'login' | 'mfa';
  /**
   * The sign-in's security events (e.g. `auth.login.succeeded`), given the new
   * session's id: written in the session's transaction, so they exist exactly
   * when the session does.
   */
  readonly audit?: (sessionId: string, organizationId: string) => readonly AuditEventInput[];
}

function toOrganization(m: AccountMembership): SessionOrganization {
  return { id: m.organizationId, name: m.organizationName, slug: m.organizationSlug, role: m.role };
}

/**
 * Creates a session after the caller authenticated the user (password login,
 * OAuth): one Postgres transaction (status check, session row, refresh token
 * hash, the sign-in's audit events, the organization's concurrent-session
 * limit) in one round trip ({@link SignInSessionRepository}) → Redis record
 * (write-through). The revoker only evicts what the limit revoked. Choosing the
 * organization (membership, IP allow-list) is {@link SignInTargetResolver}. Shared by {@link PasswordSignIn}, {@link MfaSignIn} and {@link OAuthSignIn}.
 */
@injectable()
@accessControlled
export class SessionIssuer {
  constructor(
    @inject(SignInSessionRepository) private readonly signInSessions: SignInSessionRepository,
    @inject(SessionCache) private readonly cache: SessionCache,
    @inject(SignInTargetResolver) private readonly targets: SignInTargetResolver,
    @inject(CONFIG) private readonly config: Config,
    @inject(LOGGER) private readonly logger: Logger,
    @inject(SessionRevoker) private readonly revoker: SessionRevoker,
  ) {}

  /**
   * Picks the organization and applies its sign-in rules that do not depend
   * on the second factor (`SignInTargetResolver.resolveTarget`).
   * @param organizationId the organization to act in; default the user's oldest membership
   * @throws TenantAccessError when the user belongs to no (such) organization, or (`permission: 'ip_allow_list'`)
   *   when the client's IP is outside the organization's allow-list (audited, risk 80)
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  resolveTarget(user: UserRecord, client: ParsedClientContext, organizationId?: string, via: 'login' | 'mfa' = 'login'): Promise<SignInTarget> {
    return this.targets.resolveTarget(user, client, organizationId, via);
  }

  /**
   * Creates the session. Its absolute expiry is capped by the organization's
   * `session_timeout_minutes`; the cached record expires at the inactivity
   * deadline (`inactivity_timeout_minutes` from now), which `validate` slides.
   * @param organizationId the organization to act in; default the user's oldest membership
   * @throws TenantAccessError when the user belongs to no (such) organization, or the IP is not allowed (see {@link resolveTarget})
   * @throws AccountStateError when the account was suspended/locked/deleted while the session was being created
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async issue(user: UserRecord, client: ParsedClientContext, organizationId?: string, options: IssueOptions = {}): Promise<SignInResult> {
    // Read the epoch before the Postgres write: a revoke-all landing in between moves the
    // epoch, and the cache then refuses this record as stale (validate repopulates).
    // The two reads are independent, so they share one round-trip time.
    const [{ membership, memberships, settings }, epoch] = await Promise.all([
      options.target ?? this.resolveTarget(user, client, organizationId, options.via),
      this.cache.readEpoch(user.id).catch((error: unknown) => {
        this.logger.warn('session cache unavailable at sign-in; the first validation will load from Postgres', { error });
        return undefined;
      }),
    ]);
    const context = createTenantContext({ organizationId: membership.organizationId, userId: user.id, role: membership.role, scopes: [] });

    // One transaction under the new session's tenant context: the user's status (FOR SHARE, so a
    // suspension either committed before — we see it and create nothing — or waits for our commit and
    // its revoke-all then sees this session), the session row, its refresh token and the sign-in's
    // audit events. An error to the caller means none of them exists (issue 16: a PostgreSQL failure
    // between separate writes left live sessions without a refresh token that validate accepted).
    // All of it is one statement sent with the tenant settings: one round trip (sql/0120; it was eight).
    // Keycloak's "User session limits" (Server Administration Guide, "Authentication sessions"/"User session
    // limits") offers "Deny new session" or "Terminate oldest session"; here the oldest is revoked, so a user who
    // lost a device can always sign in again (issue 20: allow_concurrent_sessions / max_concurrent_sessions, default 5).
    const limit = settings.allowConcurrentSessions ? settings.maxConcurrentSessions : 1;
    // The session's id is chosen here, so the audit events can name it in the same statement.
    const sessionId = randomUUID();
    const outcome = await this.signInSessions.issue(context, {
      sessionId,
      session: {
        accessTokenJti: randomUUID(),
        // The organization may only shorten the platform's lifetime, never extend it.
        ttlSeconds: Math.min(this.config.auth.sessionTtlSeconds, settings.sessionTimeoutMinutes * 60),
        // Unconfirmed until its first use: a session whose answer never reached the caller (the process died
        // after the commit) ends with this window instead of living its full lifetime (issue 16).
        confirmWindowSeconds: this.config.auth.sessionConfirmWindowSeconds,
        ...(client.deviceId === undefined ? {} : { device: client.deviceId }),
        ...(client.ip === undefined ? {} : { ip: client.ip }),
        ...(client.userAgent === undefined ? {} : { userAgent: client.userAgent }),
      },
      keepOthers: limit - 1,
      revokeReason: 'concurrent_session_limit',
      events: options.audit?.(sessionId, membership.organizationId) ?? [],
    });
    if (outcome.session === undefined) {
      const status = outcome.status;
      throw new AccountStateError(status === 'suspended' ? 'suspended' : status === 'locked' ? 'locked' : 'deleted');
    }
    const { session, refreshToken, revoked: overLimit } = outcome;
    const current: UserRecord = { ...user, status: outcome.status as UserRecord['status'] };

    // After the commit: the Redis half of the sessions the limit revoked (queued in the transaction, replayed if Redis fails).
    if (overLimit.length > 0) {
      await Promise.all(overLimit.map((s) => this.revoker.evictSession(s))).catch((error: unknown) =>
        this.logger.warn('session limit: Redis eviction failed; the revocations stay queued for replay', { error }),
      );
    }
    // The cache write-through may fail: validation then loads from Postgres.
    if (epoch !== undefined) {
      await this.cache
        .put(
          {
            sessionId: session.id,
            userId: user.id,
            organizationId: membership.organizationId,
            // The inactivity deadline, not the absolute expiry: validate slides it (docs/sessions.md).
            // Unconfirmed, the session's expiry is still its confirmation window, so the record ends with it.
            expiresAt: activeUntil(session.expiresAt, settings, Date.now()),
            revocationEpoch: epoch,
            roles: [membership.role],
            mfaVerified: options.mfaVerified === true,
            confirmed: session.confirmedAt !== null,
          },
          { jti: session.accessTokenJti, expiresAt: session.expiresAt.getTime() },
        )
        .catch((error: unknown) => this.logger.warn('session cache write-through failed; validation will load from Postgres', { error }));
    }

    return {
      sessionId: session.id,
      accessTokenJti: session.accessTokenJti,
      refreshToken,
      expiresAt: session.absoluteExpiresAt,
      confirmBy: session.expiresAt,
      user: current,
      organization: toOrganization(membership),
      organizations: memberships.map(toOrganization),
      context,
    };
  }
}
