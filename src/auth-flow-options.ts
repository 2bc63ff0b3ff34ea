import { z } from 'zod';

/**
 * Policy knobs of the session and auth flows that are not (yet) per
 * organization. `registerFlows` registers {@link DEFAULT_AUTH_FLOW_OPTIONS};
 * register your own value under {@link AUTH_FLOW_OPTIONS} before resolving a
 * flow to change them.
 */
export const authFlowOptionsSchema = z
  .object({
    /** Refuse sign-in (after a correct password) while the email is unverified. */
    requireVerifiedEmail: z.boolean(),
    /** Requests per minute of an API key whose row has no limit. */
    apiKeyDefaultRateLimitPerMinute: z.number().int().min(1).max(1_000_000),
    /** Previous passwords a new one may not repeat, for users in no organization (otherwise the deepest `password_history_count` of their organizations). */
    passwordHistoryDepth: z.number().int().min(0).max(24),
    /** Password-reset / verification emails and self-service sign-ups one client IP may request per hour. */
    emailRequestsPerHourPerIp: z.number().int().min(1).max(10_000),
    /** Issuer shown by authenticator apps for TOTP enrolments (the otpauth URI's `issuer`); default `platform-data`. */
    totpIssuer: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[^:]+$/, 'must not contain ":"')
      .optional(),
    /** Wrong second-factor codes one sign-in challenge accepts before it is closed; default 5. */
    mfaChallengeMaxAttempts: z.number().int().min(1).max(20).optional(),
  })
  .strict();
export type AuthFlowOptions = z.output<typeof authFlowOptionsSchema>;

export const DEFAULT_AUTH_FLOW_OPTIONS: AuthFlowOptions = Object.freeze({
  requireVerifiedEmail: true,
  apiKeyDefaultRateLimitPerMinute: 600,
  passwordHistoryDepth: 5,
  emailRequestsPerHourPerIp: 20,
});
