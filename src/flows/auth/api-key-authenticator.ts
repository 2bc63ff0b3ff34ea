import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { RateLimitedError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { parseInput } from '../../parse-input.js';
import { ApiKeyRepository, type VerifiedApiKey } from '../../postgres/repositories/api-key-repository.js';
import { RateLimiter, type RateLimitResult } from '../../redis/repositories/rate-limiter.js';
import { createTenantContext, type TenantContext } from '../../tenancy/tenant-context.js';
import { AUTH_FLOW_OPTIONS, LOGGER } from '../../tokens.js';
import type { AuthFlowOptions } from '../../auth-flow-options.js';
import { clientContextSchema } from './client-context.js';
import { OrganizationSecurity } from '../organizations/organization-security.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

const WINDOW_MS = 60_000;

/** An authenticated API key: the tenant context to act in, and the rate-limit state to report (`X-RateLimit-*`). */
export interface ApiKeyAuthentication {
  readonly context: TenantContext;
  readonly apiKey: VerifiedApiKey;
  readonly rateLimit: RateLimitResult;
}

/**
 * Authenticates `pd_<prefix>_<secret>` keys: parse → lookup by prefix →
 * constant-time hash comparison → not revoked / expired (all in
 * `ApiKeyRepository.verify`, on the owner pool) → the key's own rate limit
 * (Redis sliding-window log) → a {@link TenantContext} with the creator's
 * current membership role, narrowed by the key's scopes (actor `apiKey`).
 *
 * Rate limit per key: `rate_limit_per_minute` (or the platform default) plus
 * `rate_limit_burst` units per trailing 60 s — the most a token bucket with
 * that rate and burst capacity could admit in any minute, enforced exactly.
 * Verification comes before the limiter, so garbage keys cannot drain a real
 * key's budget (throttle unauthenticated callers per IP in front of this).
 */
@injectable()
@accessControlled
export class ApiKeyAuthenticator {
  constructor(
    @inject(ApiKeyRepository) private readonly apiKeys: ApiKeyRepository,
    @inject(RateLimiter) private readonly limiter: RateLimiter,
    @inject(OrganizationSecurity) private readonly security: OrganizationSecurity,
    @inject(AUTH_FLOW_OPTIONS) private readonly options: AuthFlowOptions,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * @param client the caller's address, when the transport knows it: then the
   *   organization's IP allow-list applies (settings memoised per process for
   *   up to 30 s). Without it the allow-list is not checked, as before.
   * @throws ValidationError naming `key` when it is empty or oversized (the key is never echoed), or `client.*`
   * @throws TokenError `invalid` (malformed, unknown prefix, wrong secret — one answer for all), `revoked`, `expired`
   * @throws TenantAccessError (`permission: 'ip_allow_list'`, audited at risk 80) when `client.ip` is outside the organization's allow-list
   * @throws RateLimitedError with `retryAfterMs` and `limit` when the key is over its limit
   */
  @declareAccess({ preTenant: 'authenticates a presented API key' })
  async authenticate(key: string, client?: { readonly ip?: string; readonly userAgent?: string }): Promise<ApiKeyAuthentication> {
    const presented = parseInput(z.string().min(1).max(256), key, 'key');
    const caller = parseInput(clientContextSchema, client ?? {}, 'client');
    // Also refuses a key whose creator was erased, removed from the organization or suspended.
    const apiKey = await this.apiKeys.verify(presented);
    if (caller.ip !== undefined) {
      // After verification, so an unauthenticated caller learns nothing about the organization's list.
      const settings = await this.security.recent(apiKey.organizationId);
      await this.security.assertIpAllowed(settings, {
        organizationId: apiKey.organizationId,
        ip: caller.ip,
        userAgent: caller.userAgent,
        actorUserId: apiKey.createdBy,
        via: 'api_key',
        apiKeyId: apiKey.id,
      });
    }
    const limit = (apiKey.rateLimitPerMinute ?? this.options.apiKeyDefaultRateLimitPerMinute) + (apiKey.rateLimitBurst ?? 0);
    const rateLimit = await this.limiter.consumeForApiKey(apiKey.organizationId, apiKey.id, { limit, windowMs: WINDOW_MS });
    if (!rateLimit.allowed) throw new RateLimitedError('API key rate limit exceeded', rateLimit.retryAfterMs, rateLimit.limit);
    // Best effort and throttled to one write a minute: a failed touch must not fail the request.
    void this.apiKeys.touchLastUsed(apiKey.id).catch((error: unknown) => this.logger.warn('api key last-used update failed', { apiKeyId: apiKey.id, error }));
    // The creator's CURRENT role, narrowed by the key's scopes: a key never has more than its creator has now.
    const context = createTenantContext({
      organizationId: apiKey.organizationId,
      userId: apiKey.createdBy,
      role: apiKey.creatorRole,
      scopes: [...apiKey.scopes],
      actor: { kind: 'apiKey', keyId: apiKey.id, creatorUserId: apiKey.createdBy, scopes: [...apiKey.scopes] },
    });
    return { context, apiKey, rateLimit };
  }
}
