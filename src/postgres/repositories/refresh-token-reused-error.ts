import { TokenError } from '../../errors.js';

/**
 * A rotated refresh token was presented again after the grace window: the
 * token was most likely stolen. By the time this is thrown the whole family
 * and its session are revoked (committed); the fields tell the session flow
 * what to evict from caches and what to write as a high-risk audit event.
 */
export class RefreshTokenReusedError extends TokenError {
  readonly familyId: string;
  readonly sessionId: string;
  readonly userId: string;
  readonly organizationId: string;
  /** Tokens of the family revoked by this detection (0 when a concurrent detection got there first). */
  readonly revokedTokens: number;
  /** False when the session had already been revoked. */
  readonly sessionRevoked: boolean;
  /** The access-token jti of the revoked session, for the Redis denylist. */
  readonly accessTokenJti: string;
  /** When the session would have expired (how long the Redis marker must live). */
  readonly sessionExpiresAt: Date;
  /** The Redis half queued in the revoking transaction (session_cache_revocations); the flow deletes it once Redis took it. */
  readonly cacheRevocationId: number;

  constructor(details: {
    familyId: string;
    sessionId: string;
    userId: string;
    organizationId: string;
    revokedTokens: number;
    sessionRevoked: boolean;
    accessTokenJti: string;
    sessionExpiresAt: Date;
    cacheRevocationId: number;
  }) {
    super('reused', 'Refresh token reuse detected: the token family and its session were revoked');
    this.familyId = details.familyId;
    this.sessionId = details.sessionId;
    this.userId = details.userId;
    this.organizationId = details.organizationId;
    this.revokedTokens = details.revokedTokens;
    this.sessionRevoked = details.sessionRevoked;
    this.accessTokenJti = details.accessTokenJti;
    this.sessionExpiresAt = details.sessionExpiresAt;
    this.cacheRevocationId = details.cacheRevocationId;
  }
}
