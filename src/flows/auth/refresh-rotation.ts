import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import type { Logger } from '../../logger.js';
import { parseInput } from '../../parse-input.js';
import type { AuditEventInput } from '../../postgres/repositories/audit-repository.js';
import { RefreshTokenRepository } from '../../postgres/repositories/refresh-token-repository.js';
import { RefreshTokenReusedError } from '../../postgres/repositories/refresh-token-reused-error.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { LOGGER } from '../../tokens.js';
import { clientContextSchema, type ClientContext, type ParsedClientContext } from './client-context.js';
import { REFRESH_REUSE_RISK } from './login-risk.js';
import { SessionRevoker } from './session-revoker.js';

/** What `refresh` returns: the session continues; the refresh token is replaced. */
export interface RefreshResult {
  readonly sessionId: string;
  readonly userId: string;
  readonly organizationId: string;
  readonly accessTokenJti: string;
  /** The successor token; the presented one is spent. Hand it to the client, never log it. */
  readonly refreshToken: string;
  /** When the session expires (refresh does not extend it). */
  readonly expiresAt: Date;
  /** True when this call lost a concurrent refresh inside the grace window and got the winner's token. */
  readonly replayed: boolean;
}

const refreshTokenInput = z.string().min(1).max(512);

/**
 * Refresh-token rotation. Reuse of a rotated token outside the grace window
 * revokes its family and session (PostgreSQL, with the audit event, in one
 * transaction; then Redis through {@link SessionRevoker}).
 */
@injectable()
@accessControlled
export class RefreshRotation {
  constructor(
    @inject(RefreshTokenRepository) private readonly refreshTokens: RefreshTokenRepository,
    @inject(SessionRevoker) private readonly revoker: SessionRevoker,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Rotates a refresh token: the presented one is spent, the successor returned.
   * @throws ValidationError naming `refreshToken` / `context.*`
   * @throws TokenError `invalid` / `revoked` / `expired` / `reused`
   */
  @declareAccess({ preTenant: 'session lifecycle: the caller holds the session or refresh token' })
  async refresh(refreshToken: string, context: ClientContext = {}): Promise<RefreshResult> {
    const input = parseInput(z.object({ refreshToken: refreshTokenInput, context: clientContextSchema }), { refreshToken, context });
    try {
      // One transaction: the rotation, the session it belongs to and the inactivity check. Nothing is read
      // after the commit, so no failure can reach a client whose token was already spent (issue 16: a
      // failed read after the commit turned a retry after the grace window into a reuse verdict).
      const rotated = await this.refreshTokens.rotate(input.refreshToken, { reuseEvents: (reuse) => [reuseDetected(reuse, input.context)] });
      const record = rotated.refreshToken;
      return {
        sessionId: record.sessionId,
        userId: record.userId,
        organizationId: record.organizationId,
        accessTokenJti: rotated.session.accessTokenJti,
        refreshToken: rotated.token,
        expiresAt: rotated.session.expiresAt,
        replayed: rotated.replayed,
      };
    } catch (error) {
      if (error instanceof RefreshTokenReusedError) await this.#onReuse(error);
      throw error;
    }
  }

  async #onReuse(error: RefreshTokenReusedError): Promise<void> {
    // Postgres already revoked family and session, queued the Redis half and wrote the audit event (one transaction); now Redis.
    try {
      await this.revoker.evictSession({
        id: error.sessionId,
        userId: error.userId,
        accessTokenJti: error.accessTokenJti,
        expiresAt: error.sessionExpiresAt,
        cacheRevocationId: error.cacheRevocationId,
      });
    } catch (evictError) {
      this.logger.error('refresh-token reuse: Redis eviction failed; Postgres is revoked', { sessionId: error.sessionId, error: evictError });
    }
  }
}

/** `auth.refresh.reuse_detected`, written in the transaction that revokes the family (RefreshTokenRepository.rotate). */
function reuseDetected(error: RefreshTokenReusedError, client: ParsedClientContext): AuditEventInput {
  return {
    eventType: 'auth.refresh.reuse_detected',
    organizationId: error.organizationId,
    actorUserId: error.userId,
    ip: client.ip ?? null,
    userAgent: client.userAgent ?? null,
    riskScore: REFRESH_REUSE_RISK,
    details: { sessionId: error.sessionId, familyId: error.familyId, revokedTokens: error.revokedTokens, sessionRevoked: error.sessionRevoked },
  };
}
