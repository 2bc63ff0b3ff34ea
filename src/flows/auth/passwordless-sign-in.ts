import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { RateLimitedError, TokenError } from '../../errors.js';
import type { Lifecycle } from '../../lifecycle.js';
import type { Logger } from '../../logger.js';
import { parseInput } from '../../parse-input.js';
import { EmailSignInCodeRepository } from '../../postgres/repositories/email-sign-in-code-repository.js';
import { UserRepository } from '../../postgres/repositories/user-repository.js';
import { VerificationTokenRepository } from '../../postgres/repositories/verification-token-repository.js';
import { RateLimiter } from '../../redis/repositories/rate-limiter.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { IDENTITY_FLOW_OPTIONS, IDENTITY_NOTIFIER, LIFECYCLE, LOGGER } from '../../tokens.js';
import { backgroundWork, type BackgroundWork } from './background-work.js';
import { clientContextSchema, type ClientContext, type ParsedClientContext } from './client-context.js';
import { FirstFactorSignIn, type FirstFactorSignInResult } from './first-factor-sign-in.js';
import type { IdentityFlowOptions } from '../../identity-flow-options.js';
import type { IdentityNotifier } from '../../identity-notifier.js';
import { EMAIL_REQUEST_ACCEPTED, type EmailRequestAccepted } from './email-request-accepted.js';

const HOUR_MS = 3_600_000;
const emailInput = z.email().max(320);
const signInContext = z.object({ organizationId: z.uuid().optional(), context: clientContextSchema });

/** Which email a passwordless sign-in sends: a link (magic link) or a 6-digit code to type. */
export type EmailSignInMethod = 'link' | 'code';

/**
 * Passwordless sign-in by email: a magic link (the `magic_link` verification
 * token: 256 random bits, SHA-256 stored, 15 minutes, consumed once) or a
 * 6-digit code (salted hash stored, 10 minutes by default, closed after 5
 * wrong guesses). Either ends like every first factor ({@link FirstFactorSignIn}):
 * a second factor when due, then the session.
 *
 * No enumeration (OWASP ASVS v4 2.5.2 / 3.x "same response"): the request
 * answers the same for known and unknown addresses, throttles both alike, and
 * does the lookup and delivery after answering; a code for an unknown address
 * is refused exactly like a wrong code.
 *
 * Nine dependencies, with a reason: the two credentials live in two stores (link tokens,
 * codes), delivery runs after answering (notifier, lifecycle, logger), and the rest is the
 * user lookup, the throttle, the options and the shared first-factor ending.
 *
 * @example
 * await passwordless.requestEmailSignIn(email, 'code', { ip });
 * const result = await passwordless.signInWithCode(email, codeFromUser, { ip });
 */
@injectable()
@accessControlled
export class PasswordlessSignIn {
  readonly #background: BackgroundWork;

  constructor(
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(VerificationTokenRepository) private readonly tokens: VerificationTokenRepository,
    @inject(EmailSignInCodeRepository) private readonly codes: EmailSignInCodeRepository,
    @inject(FirstFactorSignIn) private readonly firstFactor: FirstFactorSignIn,
    @inject(RateLimiter) private readonly limiter: RateLimiter,
    @inject(IDENTITY_NOTIFIER) private readonly notifier: IdentityNotifier,
    @inject(IDENTITY_FLOW_OPTIONS) private readonly options: IdentityFlowOptions,
    @inject(LIFECYCLE) lifecycle: Lifecycle,
    @inject(LOGGER) logger: Logger,
  ) {
    this.#background = backgroundWork(logger, 'background passwordless request failed');
    lifecycle.onStop('passwordless-sign-in', () => this.settled());
  }

  /**
   * Sends a magic link or a sign-in code if the address has an account that may sign in.
   * @throws ValidationError naming `email` / `method` / `context.*`
   * @throws RateLimitedError when the address or the client IP asked too often (the same for known and unknown addresses)
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async requestEmailSignIn(email: string, method: EmailSignInMethod = 'link', context: ClientContext = {}): Promise<EmailRequestAccepted> {
    const d = parseInput(z.object({ email: emailInput, method: z.enum(['link', 'code']), context: clientContextSchema }), { email, method, context });
    await this.#limit(d.email, d.context, 'email_sign_in');
    this.#background.run(async () => {
      const credentials = await this.users.findCredentialsByEmail(d.email);
      // Only accounts that could sign in get mail: a link must not become a way around a suspension.
      if (!credentials || credentials.user.status === 'suspended' || credentials.user.status === 'deleted' || credentials.user.status === 'locked') return;
      const { user } = credentials;
      if (d.method === 'link') {
        const { token, verificationToken } = await this.tokens.create(user.id, 'magic_link');
        await this.notifier.magicLink({ userId: user.id, email: user.email, token, expiresAt: verificationToken.expiresAt });
      } else {
        const { code, expiresAt } = await this.codes.create(user.id, this.options.signInCodeTtlSeconds);
        await this.notifier.signInCode({ userId: user.id, email: user.email, code, expiresAt });
      }
    });
    return EMAIL_REQUEST_ACCEPTED;
  }

  /**
   * Signs in with a magic link's token (consumed once, by one atomic UPDATE).
   * @throws ValidationError naming `token` / `context.*`; TokenError `invalid` / `consumed` / `expired`
   * @throws AccountStateError; TenantAccessError (membership, IP allow-list)
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async signInWithLink(token: string, context: ClientContext & { organizationId?: string } = {}): Promise<FirstFactorSignInResult> {
    const t = parseInput(z.string().min(1).max(512), token, 'token');
    const { organizationId, ...rest } = context;
    const input = parseInput(signInContext, { organizationId, context: rest });
    // Spent before the sign-in, not with it: the sign-in is a session (SessionIssuer: PostgreSQL, then Redis) or a
    // second-factor challenge, not one transaction to join. A crash between them costs a new link; nothing is half-written.
    const consumed = await this.tokens.consume('magic_link', t);
    const user = await this.users.getById(consumed.userId);
    if (!user) throw new TokenError('invalid', 'Magic link is no longer valid');
    return this.firstFactor.complete(user, input.context, 'magic_link', { organizationId: input.organizationId, mfaSatisfied: false });
  }

  /**
   * Signs in with an emailed code. Wrong codes count against the code (closed
   * after `signInCodeMaxAttempts`) and, with every attempt, against the
   * address and the client IP (RateLimiter).
   * @throws ValidationError naming `email` / `code` / `context.*`
   * @throws TokenError `invalid` — wrong, expired, closed or never sent, and for an unknown address alike
   * @throws RateLimitedError; AccountStateError; TenantAccessError
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async signInWithCode(email: string, code: string, context: ClientContext & { organizationId?: string } = {}): Promise<FirstFactorSignInResult> {
    const { organizationId, ...rest } = context;
    const input = parseInput(
      z.object({
        email: emailInput,
        code: z
          .string()
          .max(16)
          .regex(/^\s*\d{3}\s?\d{3}\s*$/, 'must be the 6-digit code'),
        organizationId: z.uuid().optional(),
        context: clientContextSchema,
      }),
      { email, code, organizationId, context: rest },
    );
    const client = input.context;
    await this.#limit(input.email, client, 'email_code_attempt');
    const credentials = await this.users.findCredentialsByEmail(input.email);
    if (!credentials) throw new TokenError('invalid', 'Invalid or expired sign-in code');
    const { user } = credentials;
    const outcome = await this.codes.check(user.id, input.code, this.options.signInCodeMaxAttempts, [
      { eventType: 'auth.email_code.failed', actorUserId: user.id, ip: client.ip ?? null, userAgent: client.userAgent ?? null, riskScore: 30, details: {} },
    ]);
    if (outcome !== 'ok') throw new TokenError('invalid', 'Invalid or expired sign-in code');
    return this.firstFactor.complete(user, client, 'email_code', { organizationId: input.organizationId, mfaSatisfied: false });
  }

  /** Resolves when every background request has finished (platform stop awaits it; tests use it). */
  @declareAccess({ systemJob: 'tests and shutdown wait for queued notifications' })
  async settled(): Promise<void> {
    await this.#background.settled();
  }

  async #limit(email: string, client: ParsedClientContext, scope: string): Promise<void> {
    const checks = [this.limiter.consumeForEmail(email, scope, { limit: this.options.emailSignInPerHourPerAddress, windowMs: HOUR_MS })];
    if (client.ip !== undefined) checks.push(this.limiter.consumeForIp(client.ip, scope, { limit: this.options.emailSignInPerHourPerIp, windowMs: HOUR_MS }));
    const refused = (await Promise.all(checks)).find((r) => !r.allowed);
    if (refused) throw new RateLimitedError('Too many requests', refused.retryAfterMs, refused.limit);
  }
}
