import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import type { AuthFlowOptions } from '../../auth-flow-options.js';
import { RateLimitedError } from '../../errors.js';
import type { Lifecycle } from '../../lifecycle.js';
import type { Logger } from '../../logger.js';
import { parseInput } from '../../parse-input.js';
import { UserRepository } from '../../postgres/repositories/user-repository.js';
import { RateLimiter } from '../../redis/repositories/rate-limiter.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { AUTH_FLOW_OPTIONS, LIFECYCLE, LOGGER } from '../../tokens.js';
import { backgroundWork, type BackgroundWork } from './background-work.js';
import { clientContextSchema, type ClientContext } from './client-context.js';
import { EMAIL_REQUEST_ACCEPTED, type EmailRequestAccepted } from './email-request-accepted.js';
import { VerificationLinks } from './verification-links.js';

const HOUR_MS = 3_600_000;

/**
 * The request for a password-reset link, without user enumeration: it answers
 * the same for known and unknown emails, and does the lookup, token creation
 * and delivery **after** answering (tracked, and awaited on platform stop), so
 * neither the result nor the response time says whether the email has an
 * account. The link is used with `PasswordReset.resetPassword`.
 */
@injectable()
@accessControlled
export class PasswordResetRequest {
  readonly #background: BackgroundWork;

  constructor(
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(RateLimiter) private readonly limiter: RateLimiter,
    @inject(VerificationLinks) private readonly links: VerificationLinks,
    @inject(AUTH_FLOW_OPTIONS) private readonly options: AuthFlowOptions,
    @inject(LIFECYCLE) lifecycle: Lifecycle,
    @inject(LOGGER) logger: Logger,
  ) {
    this.#background = backgroundWork(logger, 'background email request failed');
    lifecycle.onStop('password-reset-request', () => this.settled());
  }

  /**
   * Sends a password-reset link if the email has an account that may reset.
   * @throws ValidationError naming `email` / `context.*`
   * @throws RateLimitedError when the client IP asked too often (same for known and unknown emails)
   */
  @declareAccess({ preTenant: 'password flows of PasswordChange/PasswordReset/EmailVerification, which check the caller first' })
  async requestPasswordReset(email: string, context: ClientContext = {}): Promise<EmailRequestAccepted> {
    const d = parseInput(z.object({ email: z.email().max(320), context: clientContextSchema }), { email, context });
    if (d.context.ip !== undefined) {
      const result = await this.limiter.consumeForIp(d.context.ip, 'password_reset', { limit: this.options.emailRequestsPerHourPerIp, windowMs: HOUR_MS });
      if (!result.allowed) throw new RateLimitedError('Too many requests', result.retryAfterMs, result.limit);
    }
    this.#background.run(async () => {
      const credentials = await this.users.findCredentialsByEmail(d.email);
      // Suspended and deleted accounts get nothing: a reset must not become a way around an admin decision.
      if (!credentials || credentials.user.status === 'suspended' || credentials.user.status === 'deleted') return;
      await this.links.send(credentials.user, 'password_reset');
    });
    return EMAIL_REQUEST_ACCEPTED;
  }

  /** Resolves when every background request has finished (platform stop awaits it; tests use it). */
  @declareAccess({ systemJob: 'tests and shutdown wait for queued notifications' })
  async settled(): Promise<void> {
    await this.#background.settled();
  }
}
